"""A golden report opened in headless Chromium: every table and chart is there and visible, on desktop and phone.

Needs Debian's chromium and chromium-driver (`.ci/run` installs them where it
can) and selenium (the test extra); skips, saying which is missing, otherwise.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from paths import GOLDEN

from rnnbench.report.html import html_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHARTS_IN_RUN = 3 + 6  # throughput (train, infer), memory; learning curves of 3 cells x 2 axes

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("headless browser test: chromium and chromedriver are not installed "
                "(Debian: apt-get install chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="headless browser test: selenium is not installed "
                                                             "(pip install -e '.[test]')")
By = pytest.importorskip("selenium.webdriver.common.by").By


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    # The local driver, so selenium never looks for one on the network.
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("browser") / "report.html"
    path.write_text(html_report([GOLDEN / "report-run", GOLDEN / "report-sweep"]), encoding="utf-8")
    return path.as_uri()


def _visible(element) -> bool:
    return element.is_displayed() and element.size["width"] > 0 and element.size["height"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_tables_and_charts_are_visible(browser, report, width, height):
    browser.set_window_size(width, height)
    browser.get(report)
    tables = browser.find_elements(By.CSS_SELECTOR, "table")
    assert len(tables) == 4 + 1 + 1 + 1  # verdict (winners, geomeans, two heatmaps), runs, airline, environment
    for table in tables:
        browser.execute_script("arguments[0].scrollIntoView()", table)
        assert _visible(table) and table.find_elements(By.CSS_SELECTOR, "tbody tr")
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert len(charts) == CHARTS_IN_RUN + 1  # and the step time against hidden size of the sweep
    for chart in charts:
        browser.execute_script("arguments[0].scrollIntoView()", chart)
        marks = chart.find_elements(By.CSS_SELECTOR, "rect, polyline")
        # A line may be vertical (numpy trains the smoke budget in milliseconds), never a dot.
        assert _visible(chart) and marks and all(m.size["width"] + m.size["height"] > 0 for m in marks)
        figure = chart.find_element(By.XPATH, "..")
        assert figure.size["width"] <= width  # on a phone the chart keeps a readable size and scrolls inside it


def test_phone_scrolls_the_table_not_the_page(browser, report):
    browser.set_window_size(390, 844)
    browser.get(report)
    page_width, viewport = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert page_width <= viewport
    box = browser.find_element(By.CSS_SELECTOR, "section.task .scroll")
    assert browser.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", box)


def sorted_cells(browser, report, heading: str) -> list:  # type: ignore[no-untyped-def]
    """The cells of one column of the first task table after a click on its heading, top to bottom."""
    browser.set_window_size(1280, 900)
    browser.get(report)
    table = browser.find_element(By.CSS_SELECTOR, "section.task table")
    header = table.find_elements(By.CSS_SELECTOR, "th button")
    column = [b.text for b in header].index(heading)
    header[column].click()
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    return [row.find_elements(By.CSS_SELECTOR, "td")[column] for row in rows]


def test_header_click_sorts_the_table(browser, report):
    keys = [float(cell.get_attribute("data-sort")) for cell in sorted_cells(browser, report,
                                                                             "training samples/s [95% CI]")]
    assert keys == sorted(keys) and len(keys) == 12


def test_shape_sorts_by_its_numbers(browser, report):
    shapes = [cell.text for cell in sorted_cells(browser, report, "shape")]
    hidden = [int(s.split()[2].removeprefix("H")) for s in shapes]
    assert hidden == sorted(hidden) and {8, 16, 32} <= set(hidden)  # as text, H16 and H32 would come before H8


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_the_verdict_comes_first_and_fits_the_width(browser, report, width, height):
    browser.set_window_size(width, height)
    browser.get(report)
    verdict = browser.find_element(By.ID, "verdict")
    first_section = browser.find_element(By.CSS_SELECTOR, "main > section")
    assert first_section.get_attribute("id") == "verdict" and _visible(verdict)
    heatmaps = verdict.find_elements(By.CSS_SELECTOR, "table.heatmap")
    assert len(heatmaps) == 2 and "airline" in verdict.text and "fastest" in verdict.text
    viewport = browser.execute_script("return document.documentElement.clientWidth")
    for element in [verdict, *heatmaps, *verdict.find_elements(By.CSS_SELECTOR, "li")]:
        right = browser.execute_script("return arguments[0].getBoundingClientRect().right", element)
        assert right <= viewport, element.text[:60]  # nothing of the verdict needs sideways scrolling


@pytest.mark.slow
@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_a_latency_run_opens_with_the_verdict_then_where_to_deploy_it_with_its_distributions(
        browser, tmp_path, width, height):
    page = tmp_path / "latency.html"
    page.write_text(html_report([GOLDEN / "report-latency"]), encoding="utf-8")
    browser.set_window_size(width, height)
    browser.get(page.as_uri())
    sections = [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "main > section")]
    assert sections[:2] == ["verdict", "deployment"]
    deployment = browser.find_element(By.ID, "deployment")
    rows = deployment.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 2 and all("ahead of" in row.text for row in rows)  # lstm and gru, each with a runner-up
    charts = deployment.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert len(charts) == 4  # each case: whole sequences, streamed steps
    for chart in charts:
        browser.execute_script("arguments[0].scrollIntoView()", chart)
        bars = chart.find_elements(By.CSS_SELECTOR, "rect")
        assert _visible(chart) and len(bars) >= 3 and all(b.size["width"] > 0 for b in bars)  # three backends
        assert chart.find_element(By.XPATH, "..").size["width"] <= width
