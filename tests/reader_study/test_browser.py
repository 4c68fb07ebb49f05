"""The study page in a real browser (Debian's chromium driven by its chromedriver, through Selenium): the viewer
renders the volume and scrolls, every case is answered with the keyboard, a reload mid-way loses nothing, the
saved JSON scores as the key says."""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthtrust.cli import main
from tests.conftest import REPO, require_service
from tests.reader_study.conftest import write_answers

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium (software WebGL) whose downloads land in ``tmp_path/downloads``."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        require_service("no chromium or chromedriver: apt-get install chromium chromium-driver (CI installs both)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--window-size=1280,900"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    # an explicit driver: Selenium would otherwise go looking for one on the network
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition, timeout: float = 30.0, what: str = "") -> object:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def canvas_pixels(driver) -> np.ndarray:
    png = driver.find_element("id", "viewer").screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)


def shown(driver, case: str) -> None:
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready") == case, what=f"{case} to show")


def test_a_reader_answers_every_case_in_the_browser(browser, study: tuple[Path, Path, dict], tmp_path: Path,
                                                    mlflow_store: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.keys import Keys

    folder, key_path, key = study
    driver = browser
    driver.get((folder / "index.html").as_uri())
    cases = list(key["cases"])
    shown(driver, cases[0])

    # the volume is drawn: not a blank canvas
    before = canvas_pixels(driver)
    assert before.std() > 10 and (before > 40).mean() > 0.05, "the viewer drew nothing"
    # the mouse wheel over the first plane scrolls through slices: the picture changes
    canvas = driver.find_element("id", "viewer")
    ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(canvas, -canvas.size["width"] // 3, 0),
                                            0, 300).perform()
    time.sleep(0.5)
    assert np.abs(canvas_pixels(driver) - before).mean() > 0.5, "scrolling did not change the slice"
    # another modality (M) and the label overlay (L) change the picture too
    for key_press in ("m", "l"):
        previous = canvas_pixels(driver)
        ActionChains(driver).send_keys(key_press).perform()
        time.sleep(0.3)
        assert np.abs(canvas_pixels(driver) - previous).mean() > 0.5, key_press
    ActionChains(driver).send_keys("l").perform()  # overlay off again

    driver.find_element("id", "reader").send_keys("Dr Key")
    driver.find_element("tag name", "body").click()
    for i, case in enumerate(cases):
        if i == 3:  # a reload mid-way: the three answers and the position survive
            driver.refresh()
            shown(driver, case)
            assert driver.execute_script("return document.body.dataset.answered") == "3"
            assert driver.find_element("id", "reader").get_attribute("value") == "Dr Key"
        shown(driver, case)
        call = "s" if key["cases"][case]["truth"] == "synthetic" else "r"
        actions = ActionChains(driver).send_keys(call).send_keys("5")
        actions.key_down(Keys.SHIFT).send_keys("4").key_up(Keys.SHIFT).perform()
        if i == 1:
            ActionChains(driver).send_keys("c").perform()
            driver.switch_to.active_element.send_keys("ring enhancement too smooth", Keys.ESCAPE)
        ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait_for(lambda: driver.execute_script("return document.body.dataset.answered") == str(len(cases)),
             what="every case answered")

    driver.find_element("id", "save").click()
    downloads = tmp_path / "downloads"
    saved = wait_for(lambda: [p for p in downloads.glob("answers-*.json")], what="the saved answers")[0]
    answers = json.loads(saved.read_text())
    assert answers["reader"] == "Dr Key" and answers["study"] == key["study"] and len(answers["answers"]) == 6
    second = answers["answers"][cases[1]]
    assert (second["confidence"], second["plausibility"], second["comment"]) == (5, 4, "ring enhancement too smooth")
    assert all(a["seconds"] > 0 for a in answers["answers"].values())

    # the reader who answered from the key scores 1.0; a coin-flipper's interval holds chance
    rng = np.random.default_rng(3)
    coin = write_answers(tmp_path / "coin.json", key, "Coin", call=lambda case, truth: str(rng.choice(
        ["real", "synthetic"])))
    out = tmp_path / "scores.json"
    main(["reader-study", "score", str(saved), str(coin), "--key", str(key_path), "--out", str(out),
          "--params", str(REPO / "params.yaml")])
    scores = json.loads(out.read_text())
    assert scores["readers"]["Dr Key"]["accuracy"]["mean"] == 1.0
    assert scores["readers"]["Dr Key"]["auc"]["mean"] == 1.0
    flipper = scores["readers"]["Coin"]["accuracy"]
    assert flipper["low"] <= 0.5 <= flipper["high"]
    assert scores["comments"] == {"all / whole image": [{
        "case": cases[1], "truth": key["cases"][cases[1]]["truth"], "reader": "Dr Key",
        "call": key["cases"][cases[1]]["truth"], "text": "ring enhancement too smooth"}]}
