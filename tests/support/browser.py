"""Waiting on the headless browser."""

from __future__ import annotations


def wait_until(driver, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)
