"""The web portal in a real browser: Debian's headless Chromium driven through ChromeDriver.

A person signs in, creates a client, copies its secret from the page, and the secret mints a
token; they disable the client and the token endpoint refuses it; they sign out. The HTTP
details (CSRF, escaping, status codes) are covered by the Rust suite (crates/server/tests/api/
portal.rs); this test proves the pages work as pages: forms submit, redirects land, cookies stick.
"""

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browsing import follow

HTTP_TIMEOUT_S = 10


def mint(server, client_id, client_secret):
    return requests.post(server["token_url"], auth=(client_id, client_secret),
                         data={"grant_type": "client_credentials"}, timeout=HTTP_TIMEOUT_S)


def test_a_person_creates_a_client_in_the_portal_and_its_secret_works(server, browser):
    base = server["base_url"]
    browser.get(base + "/")
    assert browser.current_url == base + "/login"

    browser.find_element(By.ID, "email").send_keys(server["owner_email"])
    browser.find_element(By.ID, "password").send_keys("wrong password")
    follow(browser, By.CSS_SELECTOR, "button[type=submit]")
    assert "Invalid email or password." in browser.find_element(By.CSS_SELECTOR, "p.error").text

    browser.find_element(By.ID, "password").send_keys(server["owner_password"])
    follow(browser, By.CSS_SELECTOR, "button[type=submit]")
    assert browser.current_url == base + "/clients"
    assert browser.find_element(By.TAG_NAME, "h1").text == "API clients"
    assert server["client_id"] in browser.page_source, "the bootstrap client is listed"

    follow(browser, By.LINK_TEXT, "New client")
    browser.find_element(By.ID, "name").send_keys("Browser-made <client>")
    browser.find_element(By.CSS_SELECTOR, "input[name=products][value=SuperSIM]").click()
    browser.find_element(By.ID, "token_expiry_seconds").clear()
    browser.find_element(By.ID, "token_expiry_seconds").send_keys("900")
    follow(browser, By.XPATH, "//button[text()='Create client']")

    client_id = browser.find_element(By.ID, "client-id").text
    client_secret = browser.find_element(By.ID, "client-secret").text
    assert client_id and len(client_secret) >= 43
    # The secret shown once has a copy button, shown by the portal's script.
    copy = browser.find_element(By.CSS_SELECTOR, "button[data-copy=client-secret]")
    assert copy.is_displayed()
    copy.click()
    WebDriverWait(browser, 5).until(lambda driver: copy.text in ("Copied", "Select and copy by hand"))
    assert copy.text == "Copied", "the secret was copied to the clipboard"
    token = mint(server, client_id, client_secret)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "SuperSIM"
    assert token.json()["expires_in"] == 900

    # Post/redirect/get: the secret came by a redirect, not in the POST's answer, so a reload
    # shows it no more and creates nothing, and neither does going back and forward again.
    assert "/shown/" in browser.current_url and client_secret not in browser.current_url
    browser.refresh()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Shown once already"
    assert client_secret not in browser.page_source
    browser.back()
    browser.forward()
    assert client_secret not in browser.page_source
    browser.get(base + "/clients?q=Browser-made")
    assert browser.page_source.count("Browser-made &lt;client&gt;") == 1, "created once"
    browser.get(base + "/clients/" + client_id)

    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Browser-made <client>")
    assert client_secret not in browser.page_source, "the secret is shown only once"

    follow(browser, By.XPATH, "//button[text()='Disable']")
    assert "disabled" in browser.find_element(By.TAG_NAME, "h1").text
    assert mint(server, client_id, client_secret).status_code == 401

    follow(browser, By.XPATH, "//button[text()='Sign out']")
    assert browser.current_url == base + "/login"
    browser.get(base + "/clients")
    assert browser.current_url == base + "/login", "the session ended"
