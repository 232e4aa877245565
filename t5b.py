import sys, time
sys.path.insert(0, "/tmp/audit-review-work")
from common import *
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    URL = open("/tmp/audit-review-work/serveold4.out").readline().strip()
    ctx = b.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page(); page.goto(URL); poll(page, "!!document.querySelector('.overview')")
    page.evaluate("location.hash='#/file/3/f0'"); poll(page, "document.body.dataset.shown==='0'")
    for k in range(2):
        page.keyboard.press("Home"); poll(page, "document.body.dataset.shown==='0'")
        page.click("#play"); time.sleep(4); page.click("#play"); print("old frames played in 4s:", page.evaluate("S.frame"))
    b.close()
