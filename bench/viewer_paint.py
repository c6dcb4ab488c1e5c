"""How fast the viewer shows a person something, in a real browser (Debian's Chromium via Playwright).

Against a running query port: opens `/` in fresh tabs and times until the first trace row is on
screen (and the browser's first contentful paint), then opens `/traces/{id}` of a given (large)
trace and times until its waterfall shows rows. Medians of `--runs` cold tabs.

    python -m bench.viewer_paint --url http://127.0.0.1:8000 [--trace TRACE_ID] [--runs 5] [--api-key pk_…]
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


def _timed(page: Page, url: str, selector: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.locator(selector).first.wait_for(timeout=60_000)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the query port, e.g. http://127.0.0.1:8000")
    parser.add_argument("--trace", help="a trace id to open (e.g. the bench's 10,000-span trace)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--api-key", help="sent as the viewer would after its key prompt")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        cases = {"traces page: first row": ("/", "tr.row")}
        if args.trace:
            cases["trace page: waterfall rows"] = (f"/traces/{args.trace}", ".wf-row")
        for label, (path, selector) in cases.items():
            times, paints = [], []
            for _ in range(args.runs):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                if args.api_key:
                    context.add_init_script(f"sessionStorage.setItem('prela.credential', {args.api_key!r})")
                page = context.new_page()
                times.append(_timed(page, args.url + path, selector))
                paints.append(
                    page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime || 0")
                )
                context.close()
            print(
                f"{label:28s} median {statistics.median(times):7.0f} ms  max {max(times):7.0f} ms  "
                f"first paint {statistics.median(paints):5.0f} ms  ({args.runs} cold tabs)"
            )
        browser.close()


if __name__ == "__main__":
    main()
