//! A client's logo (seed file 002): a PNG or JPEG image of at most 256 KiB, recognised by its
//! bytes, never by a file name or a declared type, and served back only as the type its bytes
//! showed. A file that is not one of the two, or is cut short, is refused; so an HTML page or a
//! script renamed `logo.png` never reaches a browser as anything.

use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use crate::actor::Actor;
use crate::audit::Target;
use crate::client::GlobalResource;
use crate::error::{DomainError, ValidationError};
use crate::ids::ClientId;
use crate::service::Gatehouse;
use crate::store::StoreError;

/// The largest logo taken.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// The largest width or height of a PNG logo, in pixels: a small file can claim a huge image.
const MAX_PNG_SIDE: u32 = 4096;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// The IEND chunk every PNG ends with: length 0, type, CRC.
const PNG_END: &[u8] = b"\x00\x00\x00\x00IEND\xae\x42\x60\x82";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
}

impl ImageType {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
        }
    }

    pub fn parse(content_type: &str) -> Option<Self> {
        [ImageType::Png, ImageType::Jpeg].into_iter().find(|kind| kind.content_type() == content_type)
    }
}

/// A logo whose bytes are a whole PNG or JPEG file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    image_type: ImageType,
    bytes: Vec<u8>,
}

impl Logo {
    /// What the bytes are, whatever anyone said they were.
    pub fn sniff(bytes: Vec<u8>) -> Result<Self, ValidationError> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(ValidationError::new("logo", "must be at most 256 KiB"));
        }
        let image_type = if is_png(&bytes) {
            ImageType::Png
        } else if is_jpeg(&bytes) {
            ImageType::Jpeg
        } else {
            return Err(ValidationError::new("logo", "must be a whole PNG or JPEG image"));
        };
        Ok(Self { image_type, bytes })
    }

    pub fn image_type(&self) -> ImageType {
        self.image_type
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The signature, a first IHDR chunk with a sane size, and the closing IEND chunk.
fn is_png(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..PNG_SIGNATURE.len() + 24) else { return false };
    let (signature, ihdr) = header.split_at(PNG_SIGNATURE.len());
    let side = |at: usize| u32::from_be_bytes([ihdr[at], ihdr[at + 1], ihdr[at + 2], ihdr[at + 3]]);
    signature == PNG_SIGNATURE
        && ihdr[..8] == *b"\x00\x00\x00\x0dIHDR"
        && (1..=MAX_PNG_SIDE).contains(&side(8))
        && (1..=MAX_PNG_SIDE).contains(&side(12))
        && bytes.ends_with(PNG_END)
}

/// Start of image, a marker after it, and end of image.
fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.len() >= 6 && bytes.starts_with(b"\xff\xd8\xff") && bytes.ends_with(b"\xff\xd9")
}

impl Gatehouse {
    /// Sets (or replaces) a client's logo.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn set_logo(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        logo: &Logo,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let result = self.change_logo(actor, client_id, Some(logo), now).await;
        let details = json!({"content_type": logo.image_type().content_type(), "bytes": logo.bytes().len()});
        let target = Target { kind: "client", id: client_id.as_str(), account_id: result.as_ref().ok() };
        self.audit(actor, "client.set_logo", &target, &result, details, now).await;
        result.map(drop)
    }

    /// Removes a client's logo, if it has one.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn delete_logo(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let result = self.change_logo(actor, client_id, None, now).await;
        let target = Target { kind: "client", id: client_id.as_str(), account_id: result.as_ref().ok() };
        self.audit(actor, "client.delete_logo", &target, &result, json!({}), now).await;
        result.map(drop)
    }

    async fn change_logo(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        logo: Option<&Logo>,
        now: OffsetDateTime,
    ) -> Result<crate::ids::AccountId, DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        let client = self.visible_client(actor, client_id).await?;
        actor.may_change(&client)?;
        let changed = match logo {
            Some(logo) => self.store.set_client_logo(client_id, logo, now).await,
            None => self.store.delete_client_logo(client_id).await,
        };
        match changed {
            Ok(()) => Ok(client.account_id),
            Err(StoreError::NotFound) => Err(DomainError::NotFound("client")),
            Err(other) => Err(other.into()),
        }
    }

    /// A client's logo, for those who may see the client.
    pub async fn logo(&self, actor: &Actor, client_id: &ClientId) -> Result<Option<Logo>, DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        self.visible_client(actor, client_id).await?;
        Ok(self.store.client_logo(client_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG, as image tools write it.
    pub(crate) const TINY_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82";

    #[test]
    fn a_logo_is_what_its_bytes_are() {
        assert_eq!(Logo::sniff(TINY_PNG.to_vec()).unwrap().image_type(), ImageType::Png);
        let jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\xff\xd9".to_vec();
        assert_eq!(Logo::sniff(jpeg).unwrap().image_type(), ImageType::Jpeg);
        for refused in [
            b"<html><script>alert(1)</script></html>".to_vec(),
            TINY_PNG[..TINY_PNG.len() - 12].to_vec(),
            b"GIF89a".to_vec(),
            Vec::new(),
            [TINY_PNG, b"<script>".as_slice()].concat(),
        ] {
            assert!(Logo::sniff(refused).is_err());
        }
        let mut huge = TINY_PNG.to_vec();
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(Logo::sniff(huge).is_err(), "a claimed width past 4096");
        let mut big = b"\xff\xd8\xff".to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        big.extend_from_slice(b"\xff\xd9");
        assert!(Logo::sniff(big).is_err(), "over 256 KiB");
    }
}
