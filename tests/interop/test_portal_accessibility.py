"""Every portal page in Chromium, checked by axe-core, and a flow done with the keyboard alone.

axe-core (npm `axe-core`, the engine behind @axe-core/playwright and axe DevTools) runs in each
page as the page is shown; no page may have a moderate, serious or critical violation. A screenshot of each
page is saved under target/screenshots/ for review. The keyboard test creates and deletes a
client pressing only Tab, Space, Enter and letters.
"""

import os
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browsing import follow, sign_in, wait_for_next_page

REPO_ROOT = Path(__file__).resolve().parents[2]
AXE = Path(os.environ.get("GATEHOUSE_AXE_JS", REPO_ROOT / "target/axe/node_modules/axe-core/axe.min.js"))
SCREENSHOTS = REPO_ROOT / "target/screenshots"
BLOCKING = {"moderate", "serious", "critical"}


@pytest.fixture(scope="module")
def axe_source():
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `npm install --prefix target/axe axe-core@4` (scripts/test does)")
    return AXE.read_text()


def audit(browser, axe_source, name):
    """axe-core's serious and critical violations on the page shown now; saves a screenshot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    browser.execute_script(axe_source)
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));"
    )
    assert isinstance(result, list), f"axe-core failed on {name}: {result}"
    return [
        f"{name}: {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result
        if v.get("impact") in BLOCKING
    ]


def test_every_page_passes_axe_core(server, browser, axe_source):
    base = server["base_url"]
    # A child account, so that the header's account switcher is on every page.
    login = requests.post(base + "/v1/auth/login", timeout=10,
                          json={"email": server["owner_email"], "password": server["owner_password"]})
    session = login.json()["session_token"]
    child = requests.post(base + "/v1/accounts", json={"name": "Child"}, timeout=10,
                          headers={"Authorization": f"Bearer {session}"})
    assert child.status_code == 201, child.text
    found = []
    browser.get(base + "/login")
    found += audit(browser, axe_source, "login")
    sign_in(browser, server)

    # A client made through the portal, so that the page that shows its secret is seen too.
    follow(browser, By.LINK_TEXT, "New client")
    found += audit(browser, axe_source, "client-new")
    browser.find_element(By.ID, "name").send_keys("Audited")
    browser.find_element(By.CSS_SELECTOR, "input[name=products][value=SuperSIM]").click()
    follow(browser, By.XPATH, "//button[text()='Create client']")
    found += audit(browser, axe_source, "shown-once")
    client_id = browser.find_element(By.ID, "client-id").text
    browser.refresh()
    found += audit(browser, axe_source, "shown-once-gone")

    client = f"{base}/clients/{client_id}"
    browser.get(client)
    browser.find_element(By.XPATH, "//summary[text()='New access profile']").click()
    browser.find_element(By.ID, "profile-name").send_keys("Partner")
    follow(browser, By.XPATH, "//button[text()='Create access profile']")
    follow(browser, By.LINK_TEXT, "Back to the client")
    follow(browser, By.LINK_TEXT, "Rotate secret…")
    found += audit(browser, axe_source, "rotate-secret")
    follow(browser, By.XPATH, "//button[text()='Rotate secret']")
    browser.get(client)
    found += audit(browser, axe_source, "client")
    follow(browser, By.CSS_SELECTOR, "a[href*='/profiles/'][href$='/edit']")
    found += audit(browser, axe_source, "profile-edit")
    browser.get(client)
    follow(browser, By.LINK_TEXT, "End now…")
    found += audit(browser, axe_source, "end-secret")

    pages = {
        "clients": "/clients",
        "clients-filtered": "/clients?q=Aud&type=standard&state=enabled",
        "client-edit": f"/clients/{client_id}/edit",
        "renew-key": f"/clients/{client_id}/renew-key",
        "client-delete": f"/clients/{client_id}/delete",
        "products": "/products",
        "users": "/users",
        "audit": "/audit",
        "not-found": "/clients/no-such-client",
    }
    for name, path in pages.items():
        browser.get(base + path)
        found += audit(browser, axe_source, name)
    browser.get(base + "/clients")
    assert browser.find_element(By.ID, "account_id"), "the account switcher is on the pages"
    follow(browser, By.XPATH, "//button[text()='Switch']")
    found += audit(browser, axe_source, "clients-after-switch")
    assert not found, "accessibility violations:\n" + "\n".join(found)


def focus_by_tab(browser, matches, most=80):
    """Presses Tab (on the page, as a person does, not into an element: Selenium reads keys sent
    to a file field as a path) until the focused element satisfies `matches`; returns it."""
    for _ in range(most):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.switch_to.active_element
        if matches(focused):
            return focused
    pytest.fail("Tab never reached the element")


def text_is(text):
    return lambda element: element.text.strip() == text


def test_a_client_is_created_and_deleted_with_the_keyboard_alone(server, browser):
    base = server["base_url"]
    sign_in(browser, server)
    page = browser.find_element(By.TAG_NAME, "html")
    focus_by_tab(browser, text_is("New client")).send_keys(Keys.ENTER)
    wait_for_next_page(browser, page)

    focus_by_tab(browser, lambda element: element.get_attribute("id") == "name").send_keys("Keyboard made")
    product = focus_by_tab(browser, lambda element: element.get_attribute("value") == "SuperSIM")
    product.send_keys(Keys.SPACE)
    assert product.is_selected()
    page = browser.find_element(By.TAG_NAME, "html")
    focus_by_tab(browser, text_is("Create client")).send_keys(Keys.ENTER)
    wait_for_next_page(browser, page)
    client_id = browser.find_element(By.ID, "client-id").text
    client_secret = browser.find_element(By.ID, "client-secret").text
    minted = requests.post(server["token_url"], auth=(client_id, client_secret),
                           data={"grant_type": "client_credentials"}, timeout=10)
    assert minted.status_code == 200

    page = browser.find_element(By.TAG_NAME, "html")
    focus_by_tab(browser, text_is("Go to Keyboard made")).send_keys(Keys.ENTER)
    wait_for_next_page(browser, page)
    page = browser.find_element(By.TAG_NAME, "html")
    focus_by_tab(browser, text_is("Delete…")).send_keys(Keys.ENTER)
    wait_for_next_page(browser, page)
    page = browser.find_element(By.TAG_NAME, "html")
    focus_by_tab(browser, text_is("Delete client")).send_keys(Keys.ENTER)
    wait_for_next_page(browser, page)
    assert browser.current_url == base + "/clients?notice=deleted"
    gone = requests.post(server["token_url"], auth=(client_id, client_secret),
                         data={"grant_type": "client_credentials"}, timeout=10)
    assert gone.status_code == 401
