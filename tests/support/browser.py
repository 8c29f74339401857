"""Waiting on the headless browser."""

from __future__ import annotations


def wait_until(driver, condition, timeout=30):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # a list the page re-renders while the condition reads it leaves stale elements: look again
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def log_in_to_console(driver, web: str, account: dict) -> None:
    """Log ``account`` in on the console's page at ``web`` with a clean cookie jar; wait for its name."""
    from selenium.webdriver.common.by import By

    driver.get(web + "/console/login")
    driver.delete_all_cookies()
    driver.get(web + "/console")
    wait_until(driver, lambda d: d.find_elements(By.ID, "username"))
    driver.find_element(By.ID, "username").send_keys(account["username"])
    driver.find_element(By.ID, "password").send_keys(account["password"])
    driver.find_element(By.ID, "login").click()
    wait_until(driver, lambda d: d.find_element(By.ID, "user").text == account["username"])
