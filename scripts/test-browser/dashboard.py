#!/usr/bin/env python3
"""The dashboard in a real browser (DashboardBrowserTests): Debian's chromium through
chromedriver with Selenium, against a running `tidemark serve`.

    dashboard.py BASE_URL OPERATE_TOKEN SCREENSHOT

Logs in with a wrong token (refused), then the right one; sees the backups; presses
"create incremental"; watches the job page until the job is done; sees the new backup in
the list; saves a screenshot. Exits 1 with a message naming the broken step."""
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def fail(step, driver=None):
    print("FAIL: " + step, file=sys.stderr)
    if driver is not None:
        print("URL: " + driver.current_url, file=sys.stderr)
        print(driver.page_source[-4000:], file=sys.stderr)
    sys.exit(1)


def wait(driver, step, condition, seconds=30):
    """Waits until condition(driver) holds (a click's navigation ends when it likes)."""
    def check(d):
        try:
            return condition(d)
        except (NoSuchElementException, StaleElementReferenceException):
            return False
    try:
        WebDriverWait(driver, seconds, poll_frequency=0.2).until(check)
    except Exception:
        fail(step, driver)


def on_dashboard(d):
    return d.current_url.endswith("/admin/backup") and d.find_element(By.ID, "backups") is not None


def backup_ids(driver):
    return [row.find_element(By.TAG_NAME, "code").text for row in driver.find_elements(By.CSS_SELECTOR, "#backups tr.backup")]


def login(driver, base, token):
    driver.get(base + "/admin/backup")
    wait(driver, "an unauthenticated /admin/backup redirects to /admin/login",
         lambda d: d.current_url.endswith("/admin/login") and d.find_element(By.ID, "token"))
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.ID, "login").click()


def main():
    base, token, screenshot = sys.argv[1], sys.argv[2], sys.argv[3]
    restore_point = sys.argv[4] if len(sys.argv) > 4 else None
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600", "--disable-gpu"]:
        options.add_argument(a)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    try:
        login(driver, base, token + "wrong")
        wait(driver, "a wrong token is refused with a message", lambda d: d.find_element(By.ID, "login-error"))
        error = driver.find_element(By.ID, "login-error").text
        if "Wrong token" not in error or "/admin/backup" in driver.current_url:
            fail("a wrong token is refused (got: %r)" % error, driver)
        print("wrong token refused")

        login(driver, base, token)
        wait(driver, "the right token opens /admin/backup", on_dashboard)
        before = backup_ids(driver)
        if not before:
            fail("the backup history lists the repository's backup", driver)
        if "Recovery timeline" not in driver.page_source:
            fail("the page shows the recovery timeline", driver)
        print("logged in; backups: %s" % before)

        driver.find_element(By.ID, "action-incremental").click()
        wait(driver, "create incremental leads to the job's page", lambda d: "/admin/jobs/" in d.current_url)
        status, deadline = "", time.time() + 150
        while time.time() < deadline:
            try:
                status = driver.find_element(By.ID, "job-status").text
            except (NoSuchElementException, StaleElementReferenceException):
                status = ""
            if status and status not in ("queued", "running"):
                break
            time.sleep(0.5)
        if status != "succeeded":
            fail("the incremental job succeeds (status %r)" % status, driver)
        new_id = driver.find_element(By.ID, "job-backup").text
        print("job succeeded: %s" % new_id)

        driver.find_element(By.ID, "back").click()
        wait(driver, "the job page links back to the dashboard", on_dashboard)
        after = backup_ids(driver)
        if new_id not in after or len(after) != len(before) + 1:
            fail("the new backup %s is in the list (before %s, after %s)" % (new_id, before, after), driver)
        if restore_point:
            # The scan of the archive for restore points runs in the background: reload until
            # the pin is there (the page never waits for it).
            deadline, pinned = time.time() + 60, False
            while time.time() < deadline and not pinned:
                pins = driver.find_elements(By.CSS_SELECTOR, "path.mark-restore-point")
                pinned = any(restore_point in (p.get_attribute("innerHTML") or "") for p in pins)
                if not pinned:
                    time.sleep(1)
                    driver.refresh()
            if not pinned:
                fail("the restore point %r is pinned on the timeline" % restore_point, driver)
            print("restore point pinned: %s" % restore_point)
        os.makedirs(os.path.dirname(screenshot), exist_ok=True)
        if not driver.save_screenshot(screenshot):
            fail("the screenshot is saved")
        print("OK: %s in the list; screenshot %s" % (new_id, screenshot))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
