"""Moving through the portal in the browser the tests share (the `browser` fixture in conftest)."""

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def follow(browser, by, selector):
    """Clicks what `selector` finds and waits until the browser has loaded the next page."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, selector).click()
    wait_for_next_page(browser, page)


def wait_for_next_page(browser, page):
    """Waits until the document `page` (the old `html` element) has been replaced and loaded."""

    def replaced(driver):
        try:
            page.tag_name
        except (StaleElementReferenceException, WebDriverException):
            # Chrome, while the new document replaces the old one, may answer "Node with given id
            # does not belong to the document": the old page is gone either way.
            return True
        return False

    WebDriverWait(browser, 10).until(replaced)
    WebDriverWait(browser, 10).until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def sign_in(browser, server):
    browser.get(server["base_url"] + "/login")
    browser.find_element(By.ID, "email").send_keys(server["owner_email"])
    browser.find_element(By.ID, "password").send_keys(server["owner_password"])
    follow(browser, By.CSS_SELECTOR, "button[type=submit]")
