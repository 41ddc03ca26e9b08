#!/usr/bin/env python3
"""browser_chat.py: the chat page of `trit serve` (GET /) in headless Chromium.

Usage: python3 tests/browser_chat.py URL [--screenshot PATH] [--max-tokens N]

Loads URL, asks two questions through the page and checks that each answer
streams into an assistant bubble, that #stats shows tokens/s and the finish
reason, and that the conversation is kept (4 bubbles after the second turn).
Prints "browser_chat: P passed, F failed"; exits 1 on any failure. Without
selenium or chromium it exits 77 (skipped), or 1 when CI=true.
Overrides: CHROMIUM (browser binary), CHROMEDRIVER (driver binary).
"""
import os
import re
import sys

ANSWER_TIMEOUT = 120  # seconds for one answer to finish on a slow CPU
PROMPTS = ("What is the capital of France?", "And of Germany?")

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}" + (f": {detail}" if detail else ""))
    return ok


def unavailable(why):
    # Missing tools are a skip locally but a failure in CI, where they must be present.
    print(f"browser_chat: {why}")
    sys.exit(1 if os.environ.get("CI") == "true" else 77)


def parse_args(argv):
    import argparse
    ap = argparse.ArgumentParser(description="the chat page in headless chromium")
    ap.add_argument("url")
    ap.add_argument("--screenshot")
    ap.add_argument("--max-tokens", type=int, help="typed into the page's max tokens field (a small model's context)")
    return ap.parse_args(argv)


def start_browser():
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        unavailable(f"selenium is not installed ({e})")
    browser = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    driver = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    for path in (browser, driver):
        if not os.access(path, os.X_OK):
            unavailable(f"{path} is missing")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1000,800"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        # An explicit driver path keeps Selenium Manager from going online.
        return webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    except WebDriverException as e:
        unavailable(f"cannot start chromium: {e.msg or e}")


class Stop(Exception):
    """A wait failed; the later checks depend on it."""


def wait_for(drv, timeout, cond, what):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.2).until(cond)
    except TimeoutException:
        check(False, what, f"not within {timeout} s")
        raise Stop


def bubbles(drv, role):
    from selenium.webdriver.common.by import By
    return drv.find_elements(By.CSS_SELECTOR, f"#log .msg.{role}")


def ask(drv, n, use_enter):
    """Sends PROMPTS[n - 1] as the n-th question and returns the finished answer bubble."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    box = drv.find_element(By.ID, "prompt")
    box.send_keys(PROMPTS[n - 1])
    if use_enter:
        box.send_keys(Keys.ENTER)
    else:
        drv.find_element(By.ID, "send").click()
    check(box.get_attribute("value") == "", f"#prompt is cleared after question {n}")

    def done(d):
        b = bubbles(d, "assistant")
        return b[n - 1] if len(b) >= n and b[n - 1].get_attribute("data-done") == "1" else False
    ans = wait_for(drv, ANSWER_TIMEOUT, done, f"answer {n} finishes (data-done=\"1\")")
    text = ans.text.strip()
    check("error" not in (ans.get_attribute("class") or "").split(),
          f"answer {n} is not an error", text[:200])
    check(text != "", f"answer {n} is not empty")
    print(f"browser_chat: Q{n}: {PROMPTS[n - 1]!r} -> {text[:120]!r}")
    return ans


def run(drv, url, max_tokens):
    from selenium.webdriver.common.by import By
    drv.set_window_size(1000, 800)
    drv.get(url)
    if max_tokens:
        drv.find_element(By.ID, "max-tokens").send_keys(str(max_tokens))
    check("trit" in drv.title.lower(), "page title names trit", drv.title)
    model = wait_for(drv, 30, lambda d: d.find_element(By.ID, "model").text.strip(),
                     "#model shows the model name")
    check("error" not in (drv.find_element(By.ID, "model").get_attribute("class") or ""),
          "/v1/models answered", model)

    ask(drv, 1, use_enter=False)
    stats = drv.find_element(By.ID, "stats").text
    check(re.search(r"\d+(\.\d+)?\s*tok/s", stats) is not None, "#stats shows tokens/s", stats)
    check(re.search(r"\b(stop|length)\b", stats) is not None, "#stats shows the finish reason", stats)
    print(f"browser_chat: stats: {stats}")

    ask(drv, 2, use_enter=True)  # Enter sends as well as the button
    users, bots = bubbles(drv, "user"), bubbles(drv, "assistant")
    check(len(users) == 2 and len(bots) == 2, "the conversation holds 2 user and 2 assistant bubbles",
          f"{len(users)} user, {len(bots)} assistant")
    check(users[0].text.strip() == PROMPTS[0], "the first question is still shown", users[0].text)
    check(len(drv.find_elements(By.CSS_SELECTOR, "#log .msg.dropped")) == 0,
          "no question was dropped from the conversation")


def main():
    args = parse_args(sys.argv[1:])
    shot = args.screenshot
    drv = start_browser()
    try:
        try:
            run(drv, args.url, args.max_tokens)
        except Stop:
            pass
        except Exception as e:  # a broken page must still give a report and a screenshot
            check(False, "the page behaves", f"{type(e).__name__}: {e}")
        # Page script errors (not network ones, e.g. a 401 a test may provoke on purpose).
        try:
            logs = [e["message"] for e in drv.get_log("browser")
                    if e.get("level") == "SEVERE" and e.get("source") == "javascript"]
        except Exception:
            logs = []
        check(not logs, "no JavaScript errors on the page", "; ".join(logs)[:500])
        if shot:
            try:
                drv.save_screenshot(shot)
                print(f"browser_chat: screenshot in {shot}")
            except Exception as e:
                check(False, "screenshot saved", str(e))
    finally:
        drv.quit()
    print(f"browser_chat: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
