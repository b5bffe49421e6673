"""Drives the operators' console in Debian's headless Chromium, as an operator would.

Usage: console_browser.py SIGN_IN_LINK SCREENSHOT_DIR DISCARDED_JOB_ID ERROR_TEXT

Signs in through the link `evently-jobs console` printed, checks the queues and their counts,
finds the discarded job by its error text, retries it from its page and waits for it to
complete, pauses and resumes the default queue, visits every view, and keeps a screenshot of
each (desktop and phone widths) in SCREENSHOT_DIR. Fails (exit 1, reason on stderr) at the
first thing an operator would see go wrong, including any error in the browser's console.
Nothing is downloaded: the system's chromium and chromedriver are used.
"""

import json
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_SECONDS = 20


class Failed(Exception):
    pass


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("EVENTLY_CHROMIUM", "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=en-GB"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("EVENTLY_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    return driver


def wait_for(driver, what, condition, seconds=WAIT_SECONDS):
    try:
        # The console re-renders a view by replacing it: an element found a moment ago can be gone.
        return WebDriverWait(driver, seconds, poll_frequency=0.2,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)
    except TimeoutException:
        raise Failed(f"timed out after {seconds} s waiting for {what}; page text:\n{page_text(driver)[:2000]}")


def page_text(driver):
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except Exception as error:  # the page may be between renders
        return f"(no text: {error})"


def visible(css):
    return EC.visibility_of_element_located((By.CSS_SELECTOR, css))


def shoot(driver, folder, name):
    path = os.path.join(folder, name + ".png")
    driver.save_screenshot(path)
    return path


def click(driver, css, what):
    """Clicks what `css` names at the moment of the click (views re-render and replace elements)."""
    wait_for(driver, what, visible(css))
    if not driver.execute_script("const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true", css):
        raise Failed(f"{what} ({css}) is gone")


def go(driver, fragment):
    driver.execute_script("location.hash = arguments[0]", fragment)


def main():
    link, folder, job_id, error_text = sys.argv[1:5]
    os.makedirs(folder, exist_ok=True)
    driver = browser()
    shots = []
    try:
        # Sign in through the printed link; the token leaves the address bar at once.
        driver.get(link)
        card = wait_for(driver, "the default queue's card", visible('article[data-queue="default"]'))
        if "token=" in driver.current_url:
            raise Failed(f"the token stayed in the address bar: {driver.current_url}")
        counts = {element.get_attribute("data-count"): element.text
                  for element in card.find_elements(By.CSS_SELECTOR, "[data-count]")}
        if set(counts) != {"available", "running", "retryable", "scheduled"} or not all(v.isdigit() for v in counts.values()):
            raise Failed(f"the default queue shows no counts by state: {counts}")
        shots.append(shoot(driver, folder, "overview"))

        # The counts are live: a job enqueued now shows in the card without a new render.
        wait_for(driver, "the live stream to be on", lambda d: d.execute_script("return document.body.dataset.live") == "on")
        driver.execute_script('document.querySelector(\'article[data-queue="default"]\').dataset.rendered = "before"')
        before = int(driver.find_element(By.CSS_SELECTOR, 'article[data-queue="default"] [data-count="scheduled"]').text)
        driver.execute_script("""
            fetch('/v1/jobs', {method: 'POST', headers: {'Authorization': 'Bearer ' + sessionStorage.getItem('evently-console-token'),
              'Content-Type': 'application/json'}, body: JSON.stringify({kind: 'diag.noop', run_at: '2099-01-01T00:00:00Z'})})""")
        wait_for(driver, "the scheduled count to rise live", lambda d: int(d.find_element(
            By.CSS_SELECTOR, 'article[data-queue="default"] [data-count="scheduled"]').text) == before + 1, seconds=10)
        if driver.execute_script('return document.querySelector(\'article[data-queue="default"]\').dataset.rendered') != "before":
            raise Failed("the overview was rendered again instead of updated in place")

        # Find the discarded job by its error text, from the jobs view's form.
        go(driver, "#/jobs")
        search = wait_for(driver, "the jobs search form", visible("#f-q"))
        Select(driver.find_element(By.ID, "f-state")).select_by_value("discarded")
        search.send_keys(error_text)
        search.send_keys(Keys.ENTER)
        # The view rendered for the search (its hash holds the query), not the one before it.
        results = f'[data-hash*="q="] tr[data-job="{job_id}"]'
        row = wait_for(driver, f"job {job_id} in the search results", visible(results))
        if error_text not in row.text:
            raise Failed(f"the row of job {job_id} does not show its error: {row.text!r}")
        shots.append(shoot(driver, folder, "jobs-search"))

        # Its page: the error of the failed attempt; retry it and see it complete.
        click(driver, results + " a", "the job's link")
        # The job's own page (the jobs list has retry buttons too).
        job_retry = f'[data-hash^="#/job/{job_id}"] button[data-action="retry"]'
        wait_for(driver, "the job's page", visible(job_retry))
        if error_text not in page_text(driver):
            raise Failed("the job's page does not show the failed attempt's error")
        shots.append(shoot(driver, folder, "job-discarded"))
        click(driver, job_retry, "the job's retry button")
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            badges = driver.execute_script("return [...document.querySelectorAll('span.state')].map(e => e.textContent)")
            if "completed" in badges:
                break
            if time.monotonic() > deadline:
                raise Failed(f"job {job_id} did not complete after the retry; page:\n{page_text(driver)[:1500]}")
            time.sleep(0.5)
            go(driver, f"#/job/{job_id}?t={time.monotonic()}")   # a new hash re-renders the view
        shots.append(shoot(driver, folder, "job-completed"))

        # Pause the default queue from the overview, see it paused, resume it.
        go(driver, "#/overview")
        button = wait_for(driver, "the pause button", visible('article[data-queue="default"] h2 button'))
        if button.text != "Pause":
            raise Failed(f"the default queue should be running, its button says {button.text!r}")
        click(driver, 'article[data-queue="default"] h2 button', "the pause button")
        wait_for(driver, "the queue to show as paused", lambda d: "paused" in d.find_element(
            By.CSS_SELECTOR, 'article[data-queue="default"] h2').text and d.find_element(
            By.CSS_SELECTOR, 'article[data-queue="default"] h2 button').text == "Resume")
        shots.append(shoot(driver, folder, "overview-paused"))
        click(driver, 'article[data-queue="default"] h2 button', "the resume button")
        wait_for(driver, "the queue to run again", lambda d: d.find_element(
            By.CSS_SELECTOR, 'article[data-queue="default"] h2 button').text == "Pause")

        # Every other view loads and shows its table (or says it is empty).
        for view, expect in (("failures", "Failures"), ("schedules", "Schedules"), ("daemons", "Daemons"),
                             ("bookings", "Bookings")):
            go(driver, f"#/{view}")
            wait_for(driver, f"the {view} view", lambda d: d.title.startswith(expect))
            if "Could not load this view" in page_text(driver):
                raise Failed(f"the {view} view failed: {page_text(driver)[:500]}")
            shots.append(shoot(driver, folder, view))

        # A phone's width.
        driver.set_window_size(390, 844)
        go(driver, "#/overview")
        wait_for(driver, "the overview on a phone", visible('article[data-queue="default"]'))
        shots.append(shoot(driver, folder, "overview-phone"))

        errors = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
        if errors:
            raise Failed("errors in the browser console:\n" + "\n".join(e.get("message", "") for e in errors))
        print(json.dumps({"ok": True, "screenshots": shots}))
    except Failed as failure:
        shoot(driver, folder, "failure")
        logs = "\n".join(f"{e.get('level')}: {e.get('message')}" for e in driver.get_log("browser"))
        raise Failed(f"{failure}\nbrowser console:\n{logs}\n(screenshot: {folder}/failure.png)")
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except Failed as failure:
        print(f"console check failed: {failure}", file=sys.stderr)
        sys.exit(1)
