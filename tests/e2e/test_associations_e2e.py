"""Associations in Chromium (issue 12): the platform administrator (made with the CLI)
creates an association on /platform; its first organiser opens the invitation link, makes
an account, uploads the logo and creates a café; the café appears on the portal under its
association with its logo, and its page shows logo and colour without breaking a 390 px
screen."""

from __future__ import annotations

import struct
import subprocess
import zlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from e2e_harness import CAUSERIE, REPO, Server
from e2e_pages import log_in
from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e
PASSWORD = "un mot de passe assez long"


def logo_png(path: Path) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    size = 16
    rows = b"".join(b"\x00" + b"\xaa\x33\x55" * size for _ in range(size))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", size, size, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b""))
    return path


def test_platform_admin_association_organiser_cafe_on_portal(
        server: Server, audience_browser: Browser, tmp_path: Path) -> None:
    subprocess.run([CAUSERIE, "admin", "create", "--email", "hote@example.org", "--name",
                    "Hôte", "--platform", "--password-stdin"], input=PASSWORD + "\n",
                   env=server.env, cwd=REPO, check=True, capture_output=True, text=True)
    base = server.base_url
    admin_context = audience_browser.new_context()
    admin = admin_context.new_page()
    log_in(admin, base, "hote@example.org", PASSWORD, "/platform")
    admin.fill("#name", "Réseau des Pères")
    admin.fill("#slug", "reseau-des-peres")
    admin.fill("#website", "https://peres.example.org")
    admin.fill("#colour", "#aa3355")
    admin.click("form[action='/platform/associations'] button[type=submit]")
    admin.wait_for_url("**/platform?created=reseau-des-peres*")
    link = admin.input_value("#association-reseau-des-peres .invite-url")
    assert "/organisers/join?token=" in link
    admin_context.close()

    context = audience_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(link)
    assert "Réseau des Pères" in page.inner_text("h1")
    page.fill("#name", "Odile")
    page.fill("#email", "odile@peres.example.org")
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/admin")
    assert "Réseau des Pères" in page.inner_text(".association-line")

    page.goto(f"{base}/admin/associations/reseau-des-peres")
    page.set_input_files("#logo", str(logo_png(tmp_path / "logo.png")))
    page.click("form[action$='/logo'] button[type=submit]")
    page.wait_for_url("**/admin/associations/reseau-des-peres?saved=logo")

    page.goto(f"{base}/admin/cafes/new")
    page.fill("#title", "Être père à l'ère des écrans")
    page.select_option("#theme", "screens")
    page.fill("#starts_at", f"{date.today() + timedelta(days=20)}T20:00")
    page.fill("#duration_minutes", "60")
    page.click("form[action='/admin/cafes/new'] button[type=submit]")
    page.wait_for_url("**/admin/cafes/*?created=1")
    slug = page.url.split("/admin/cafes/", 1)[1].split("?", 1)[0]
    ((owner,),) = server.query("SELECT a.slug FROM cafes c JOIN associations a "
                               "ON a.id = c.association_id WHERE c.slug = ?", slug)
    assert owner == "reseau-des-peres"

    # its figures on a phone: the peak column (a dash: nothing recorded yet), each table
    # scrolling in its box with its words whole, the page no wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/admin/associations/reseau-des-peres/figures")
    assert "—" in page.inner_text("#figures-cafes tbody")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    broken = page.evaluate("""() => [...document.querySelectorAll('.table-scroll th')]
      .filter(th => { const range = document.createRange(); range.selectNodeContents(th);
                      return range.getClientRects().length
                             > th.textContent.trim().split(/\\s+/).length; })
      .map(th => th.textContent)""")
    assert broken == [], broken
    page.set_viewport_size({"width": 1280, "height": 900})

    # the portal, filtered by the association: the café under its name and logo
    visitor = audience_browser.new_context(viewport={"width": 1280, "height": 900})
    portal = visitor.new_page()
    portal.goto(f"{base}/?association=reseau-des-peres")
    card = portal.locator(f".cafe-card:has(a[href='/cafes/{slug}'])")
    assert card.count() == 1
    assert "Réseau des Pères" in card.locator(".association-name").inner_text()
    logo = card.locator(".association-badge img")
    assert logo.get_attribute("src") == "/associations/reseau-des-peres/logo"
    portal.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 16", arg=logo.element_handle())

    # the café page on a phone: logo, colour, nothing wider than the screen
    phone = visitor.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{base}/cafes/{slug}")
    badge = phone.locator(".cafe-header .association-badge")
    assert "Réseau des Pères" in badge.inner_text()
    phone.wait_for_function("() => { const i = document.querySelector("
                            "'.cafe-header .association-badge img'); "
                            "return i && i.complete && i.naturalWidth === 16; }")
    colour = phone.evaluate("() => getComputedStyle(document.querySelector('.cafe-header'))"
                            ".borderTopColor")
    assert colour == "rgb(170, 51, 85)", colour
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, width
    box = phone.evaluate("() => { const r = document.querySelector("
                         "'.cafe-header .association-badge').getBoundingClientRect(); "
                         "return [r.left, r.right]; }")
    assert box[0] >= 0 and box[1] <= 390, box
    visitor.close()
    context.close()
