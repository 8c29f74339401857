"""Waiting on the headless browser."""

from __future__ import annotations


def wait_until(driver, condition, timeout=30):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # a list the page re-renders while the condition reads it leaves stale elements: look again
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)
