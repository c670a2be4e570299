"""What goes over the wire: compressed pages and API, downloads left intact, static files under
content-hashed URLs cached for a year, plotly.js precompressed once, and no session work for
static files. The heavy cases run on the full demo dataset (193 States)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path

import brotli
import pytest
from werkzeug.security import generate_password_hash

import survey.storage.users as users
import survey.web.assets as assets
import survey.web.auth as auth
import survey.web.db as web_db
from survey.demo import demo_accounts, generate_demo
from survey.setup import prepare
from survey.storage.responses import get_or_create_response
from survey.storage.rounds import current_round
from survey.web import create_app
from survey.web.reports import plotly_js_path

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
INPUT = re.compile(r"<(?:input|textarea|select)\b")
STATIC_URL = re.compile(r'(?:href|src)="(/static/[^"?]+)\?v=([^"&]*)"')
CHROMIUM_ACCEPT = "gzip, deflate, br, zstd"  # what Chromium 13x sends
WIRE_LIMIT = 45_000  # bytes: the largest chapter page must stay under this, compressed
STATIC_DIR = Path(assets.__file__).parent / "static"


def decode(response) -> bytes:
    """The body as the browser sees it after undoing Content-Encoding."""
    encoding = response.headers.get("Content-Encoding")
    body = response.get_data()
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    assert encoding is None, f"unexpected Content-Encoding {encoding}"
    return body


def login(client, email, password):
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    done = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert done.status_code == 302, done.get_data(as_text=True)[:300]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# -- the full demo dataset: the heaviest real pages --------------------------------------------------


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory, questionnaire):
    folder = tmp_path_factory.mktemp("transfer")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            users,
            "generate_password_hash",
            lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1000"),
        )
        db, _ = prepare(folder / "survey.db")
        generate_demo(db, questionnaire)
        round_id = current_round(db)["id"]
        db.conn.close()
    app = create_app(
        {
            "DATABASE": str(folder / "survey.db"),
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            "INSTANCE_PATH": str(folder),
        }
    )
    app.config["DEMO_ROUND"] = round_id
    return app


@pytest.fixture(scope="module")
def largest_chapter(demo_app, questionnaire):
    """(client logged in as the respondent, URL) of the chapter page with the most inputs, for
    the demo State with the most answers in it (an editable response)."""
    from survey.storage import connect

    round_id = demo_app.config["DEMO_ROUND"]
    respondents = {a["state_iso3"]: a for a in demo_accounts() if a["role"] == "respondent"}
    db = connect(demo_app.config["DATABASE"])
    try:
        best = {}
        for chapter in questionnaire.chapters.values():
            ids = [p.id for p in chapter.provisions]
            marks = ", ".join("?" for _ in ids)
            row = db.execute(
                "SELECT r.state_iso3, count(*) AS n FROM answers a"
                " JOIN responses r ON r.id = a.response_id"
                f" WHERE r.round_id = ? AND r.status IN ('draft', 'returned')"
                f" AND a.provision_id IN ({marks}) AND r.state_iso3 IN"
                f" ({', '.join('?' for _ in respondents)})"
                " GROUP BY r.state_iso3 ORDER BY n DESC LIMIT 1",
                [round_id, *ids, *respondents],
            ).fetchone()
            if row is not None:
                best[chapter] = row[0]
    finally:
        db.conn.close()
    assert best, "no demo respondent has an editable response"
    # The heaviest page is found by rendering every chapter and counting its inputs.
    sizes = {}
    clients = {}
    for chapter, iso3 in best.items():
        if iso3 not in clients:
            clients[iso3] = demo_app.test_client()
            login(clients[iso3], respondents[iso3]["email"], respondents[iso3]["password"])
        url = f"/fill/{round_id}/{chapter.instrument}/{chapter.id}"
        page = clients[iso3].get(url)
        assert page.status_code == 200, url
        sizes[(iso3, url)] = len(INPUT.findall(page.get_data(as_text=True)))
    iso3, url = max(sizes, key=sizes.get)
    assert sizes[(iso3, url)] > 2000, sizes  # UNCAC criminalization: ~2,200 inputs
    return clients[iso3], url


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("br", "br"), ("gzip", "gzip"), (CHROMIUM_ACCEPT, "br"), ("gzip, br;q=0.5", "gzip")],
)
def test_largest_chapter_page_is_compressed_under_45_kb(largest_chapter, accept, expected):
    client, url = largest_chapter
    plain = client.get(url)
    assert plain.headers.get("Content-Encoding") is None  # no Accept-Encoding: as it is
    assert len(plain.get_data()) > 10 * WIRE_LIMIT  # ~600 kB: compression is what brings it down

    page = client.get(url, headers={"Accept-Encoding": accept})
    assert page.status_code == 200
    assert page.headers["Content-Encoding"] == expected
    assert "Accept-Encoding" in page.headers["Vary"]
    wire = len(page.get_data())
    assert int(page.headers["Content-Length"]) == wire
    assert wire < WIRE_LIMIT, f"{wire} bytes on the wire with {expected}"
    html = decode(page).decode()
    assert html.rstrip().endswith("</html>")
    assert len(INPUT.findall(html)) == len(INPUT.findall(plain.get_data(as_text=True)))


def test_json_api_is_compressed_and_decodes_to_the_same_data(demo_app):
    analyst = next(a for a in demo_accounts() if a["role"] == "analyst")
    client = demo_app.test_client()
    login(client, analyst["email"], analyst["password"])
    url = f"/api/v1/rounds/{demo_app.config['DEMO_ROUND']}/priorities"
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": CHROMIUM_ACCEPT})
    assert packed.status_code == 200
    assert packed.headers["Content-Encoding"] == "br"
    assert packed.mimetype == "application/json"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert json.loads(decode(packed)) == plain.get_json()
    assert len(packed.get_data()) * 5 < len(plain.get_data())  # ~230 kB -> ~17 kB


def test_csv_download_is_compressed_and_intact(demo_app):
    analyst = next(a for a in demo_accounts() if a["role"] == "analyst")
    client = demo_app.test_client()
    login(client, analyst["email"], analyst["password"])
    url = f"/reports/{demo_app.config['DEMO_ROUND']}/priorities?grouping=global&format=csv"
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Content-Disposition"] == plain.headers["Content-Disposition"]
    assert decode(packed) == plain.get_data()


# -- small fixtures: downloads, the BREACH guard, static files -------------------------------------


def test_workbook_download_is_not_compressed_again(login_as, round_id):
    analyst = login_as("analyst@example.org")
    done = analyst.client.get(
        f"/exports/{round_id}/workbook.xlsx",
        headers={"Accept-Encoding": CHROMIUM_ACCEPT},
        buffered=True,
    )
    assert done.status_code == 200
    assert "Content-Encoding" not in done.headers  # an xlsx file is a zip archive already
    with zipfile.ZipFile(io.BytesIO(done.get_data())) as book:
        assert "xl/workbook.xml" in book.namelist()


def test_offline_questionnaire_download_is_not_compressed_again(login_as, round_id):
    ken = login_as("ken@example.org")
    done = ken.client.get(
        f"/fill/{round_id}/offline.xlsx",
        headers={"Accept-Encoding": CHROMIUM_ACCEPT},
        buffered=True,
    )
    assert done.status_code == 200
    assert "Content-Encoding" not in done.headers
    assert zipfile.ZipFile(io.BytesIO(done.get_data())).testzip() is None


@pytest.mark.parametrize(
    ("fetch_site", "compressed"),
    [
        (None, True),
        ("same-origin", True),
        ("none", True),
        ("cross-site", False),
        ("same-site", False),
    ],
)
def test_only_requests_the_user_made_are_compressed(login_as, round_id, fetch_site, compressed):
    """BREACH: a page another site made the browser request comes back uncompressed."""
    ken = login_as("ken@example.org")
    headers = {"Accept-Encoding": CHROMIUM_ACCEPT}
    if fetch_site:
        headers["Sec-Fetch-Site"] = fetch_site
    page = ken.client.get(f"/fill/{round_id}/TIP/victim_protection", headers=headers)
    assert page.status_code == 200
    assert ("Content-Encoding" in page.headers) is compressed
    assert "Accept-Encoding" in page.headers["Vary"]
    assert b"TIP-" in decode(page)


def _built_workbook(analyst, db, round_id) -> str:
    """The key of a workbook build (the test app builds inside the request)."""
    from survey.exports import jobs
    from survey.questionnaire import get_questionnaire

    with analyst.client.get(f"/exports/{round_id}/workbook.xlsx") as built:
        assert built.status_code == 200
    return jobs.build_key(db, get_questionnaire(), "workbook", round_id, jobs.clean_params())


def test_every_page_links_static_files_by_their_content_hash(login_as, db, round_id):
    get_or_create_response(db, round_id, "KEN")  # for the print view
    ken = login_as("ken@example.org")
    analyst = login_as("analyst@example.org")
    pages = [
        ken.client.get("/login"),
        ken.client.get(f"/fill/{round_id}/TIP/general_provisions"),
        ken.client.get(f"/fill/{round_id}/print"),
        analyst.client.get(f"/reports/{round_id}/?grouping=un_regional_group"),
        analyst.client.get(f"/reports/{round_id}/heatmap"),
        analyst.client.get(f"/reports/{round_id}/priorities?grouping=global"),
        analyst.client.get(f"/exports/builds/{_built_workbook(analyst, db, round_id)}"),
    ]
    seen = set()
    for page in pages:
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        # Every static URL carries ?v=; none is linked bare.
        assert len(re.findall(r'="/static/', html)) == len(STATIC_URL.findall(html))
        for path, digest in STATIC_URL.findall(html):
            assert digest == sha(STATIC_DIR / path.removeprefix("/static/")), path
            seen.add(path)
        for digest in re.findall(r'src="/reports/vendor/plotly\.min\.js\?v=([^"]+)"', html):
            assert digest == sha(plotly_js_path())
            seen.add("plotly")
    every_file = {f"/static/{p.name}" for p in STATIC_DIR.iterdir()}
    assert every_file | {"plotly"} == seen


def test_static_file_is_immutable_only_under_its_current_hash(client):
    digest = sha(STATIC_DIR / "style.css")
    current = client.get(f"/static/style.css?v={digest}", buffered=True)
    assert current.status_code == 200
    assert current.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "no-store" not in current.headers["Cache-Control"]
    # Another release's digest, none, or anything a visitor types: the file, to be revalidated.
    for query in (
        "",
        "?v=0123456789abcdef",
        f"?v={digest}x",
        "?v=../../secret_key",
        "?v=" + "🇰🇪" * 50,
    ):
        other = client.get(f"/static/style.css{query}", buffered=True)
        assert other.status_code == 200, query
        assert other.headers["Cache-Control"] == "no-cache", query
        assert other.get_data() == current.get_data()


def test_static_request_does_not_load_the_user_or_refresh_the_session(app, login_as, monkeypatch):
    ken = login_as("ken@example.org")
    lookups = []
    connections = []
    real_find, real_connect = auth.find_session, web_db.connect
    monkeypatch.setattr(auth, "find_session", lambda *a: lookups.append(a) or real_find(*a))
    monkeypatch.setattr(
        web_db, "connect", lambda *a, **k: connections.append(a) or real_connect(*a, **k)
    )

    page = ken.client.get("/fill/")  # a page does all three, which is what makes the test bite
    assert lookups and connections
    assert "survey_session=" in page.headers.get("Set-Cookie", "")
    assert page.headers["Cache-Control"] == "no-store"

    lookups.clear()
    connections.clear()
    digest = sha(STATIC_DIR / "fill.js")
    for url in (f"/static/fill.js?v={digest}", "/static/fill.js", "/static/missing.js"):
        static = ken.client.get(url, headers={"Accept-Encoding": CHROMIUM_ACCEPT}, buffered=True)
        assert static.status_code in (200, 404), url
        assert lookups == [] and connections == [], url  # no session row, no database at all
        assert "Set-Cookie" not in static.headers, url
        assert "no-store" not in static.headers.get("Cache-Control", ""), url
        if static.status_code == 200:  # (a 404 page is in the visitor's language: Vary: Cookie)
            assert "Cookie" not in static.headers.get("Vary", ""), url


def test_plotly_js_is_precompressed_once_into_the_instance_folder(app, tmp_path, monkeypatch):
    client = app.test_client()
    source = plotly_js_path().read_bytes()
    digest = sha(plotly_js_path())
    calls = []
    real_gzip = assets.gzip.compress
    monkeypatch.setattr(
        assets.gzip, "compress", lambda *a, **k: calls.append(1) or real_gzip(*a, **k)
    )

    first = client.get(
        f"/reports/vendor/plotly.min.js?v={digest}",
        headers={"Accept-Encoding": "gzip"},
        buffered=True,
    )
    again = client.get(
        f"/reports/vendor/plotly.min.js?v={digest}",
        headers={"Accept-Encoding": "gzip"},
        buffered=True,
    )
    assert calls == [1]  # compressed for the first request only
    assert (tmp_path / "vendor" / f"plotly.min.{digest}.js.gz").is_file()
    for response in (first, again):
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Accept-Encoding" in response.headers["Vary"]
        assert response.mimetype == "text/javascript"
        assert "plotly.min.js" in response.headers.get("Content-Disposition", "plotly.min.js")
        assert decode(response) == source
    assert len(first.get_data()) < len(source) / 3

    # A browser that has it asks with its ETag and is told it has not changed.
    unchanged = client.get(
        f"/reports/vendor/plotly.min.js?v={digest}",
        headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]},
        buffered=True,
    )
    assert unchanged.status_code == 304
    # No compression accepted: the file itself, and nothing made for it.
    plain = client.get(
        "/reports/vendor/plotly.min.js", headers={"Accept-Encoding": "identity"}, buffered=True
    )
    assert "Content-Encoding" not in plain.headers
    assert plain.get_data() == source
    assert plain.headers["Cache-Control"] == "no-cache"
    assert plain.headers["ETag"] != first.headers["ETag"]
    assert calls == [1]


@pytest.mark.parametrize("name", ["carte du monde.js", "خريطة.min.js", "a.b.c"])
def test_precompressed_copies_decode_to_the_file(tmp_path, name):
    source = tmp_path / name
    source.write_bytes(("var x = '=SUM(A1)</script>🇰🇪';\n" * 2000).encode())
    asset = assets.Asset(source, assets.file_digest(source))
    folder = tmp_path / "instance" / "vendor"
    packed_br = assets.precompressed(asset, "br", folder)
    packed_gz = assets.precompressed(asset, "gzip", folder)
    assert brotli.decompress(packed_br.read_bytes()) == source.read_bytes()
    assert gzip.decompress(packed_gz.read_bytes()) == source.read_bytes()
    assert asset.digest in packed_br.name and packed_br.parent == folder
    assert not list(folder.glob("*.partial"))
    with pytest.raises(ValueError, match="unknown encoding 'zstd'"):
        assets.precompressed(asset, "zstd", folder)


def test_precompressed_copy_follows_a_new_release_of_the_file(tmp_path):
    source = tmp_path / "lib.js"
    folder = tmp_path / "vendor"
    source.write_text("var release = 1;\n" * 100)
    first = assets.precompressed(assets.Asset(source, assets.file_digest(source)), "gzip", folder)
    source.write_text("var release = 2;\n" * 100)
    second = assets.precompressed(assets.Asset(source, assets.file_digest(source)), "gzip", folder)
    assert first != second
    assert gzip.decompress(second.read_bytes()) == source.read_bytes()


def test_static_files_decode_to_themselves_in_every_encoding(client):
    for path in sorted(STATIC_DIR.iterdir()):
        for accept in ("br", "gzip", "identity"):
            response = client.get(
                f"/static/{path.name}?v={sha(path)}",
                headers={"Accept-Encoding": accept},
                buffered=True,
            )
            assert response.status_code == 200
            if len(path.read_bytes()) > 1000:  # tiny files are not worth compressing
                assert response.headers.get("Content-Encoding", "identity") == accept, path.name
            assert decode(response) == path.read_bytes(), (path.name, accept)


def _send(app, asset, folder, accept):
    with app.test_request_context(headers={"Accept-Encoding": accept}):
        response = assets.send_asset(asset, "text/javascript", folder)
    response.direct_passthrough = False
    try:
        return response.headers.get("Content-Encoding"), decode(response)
    finally:
        response.close()


def test_brotli_copy_is_made_in_the_background_while_gzip_is_served(app, tmp_path):
    source = tmp_path / "carte du monde 🇰🇪.js"
    source.write_bytes(("var x = '=SUM(A1)</script>خريطة';\n" * 3000).encode())
    asset = assets.Asset(source, assets.file_digest(source))
    folder = tmp_path / "instance" / "vendor"

    # Nothing made yet: this request gets gzip (made on the spot), brotli starts in the background.
    assert _send(app, asset, folder, CHROMIUM_ACCEPT) == ("gzip", source.read_bytes())
    assets.wait_for_background(timeout=60)
    assert _send(app, asset, folder, CHROMIUM_ACCEPT) == ("br", source.read_bytes())
    assert _send(app, asset, folder, "gzip;q=1, br;q=0.5") == ("gzip", source.read_bytes())
    assert _send(app, asset, folder, "identity") == (None, source.read_bytes())
    assert sorted(p.suffix for p in folder.iterdir()) == [".br", ".gz"]  # no claim, no partial


def test_brotli_only_client_gets_the_file_until_the_copy_is_ready(app, tmp_path):
    source = tmp_path / "lib.js"
    source.write_text("var release = 1;\n" * 500)
    asset = assets.Asset(source, assets.file_digest(source))
    folder = tmp_path / "vendor"
    assert _send(app, asset, folder, "br") == (None, source.read_bytes())
    assets.wait_for_background(timeout=60)
    assert _send(app, asset, folder, "br") == ("br", source.read_bytes())


def test_a_copy_another_process_is_making_is_not_made_twice(app, tmp_path):
    source = tmp_path / "lib.js"
    source.write_text("var release = 1;\n" * 500)
    asset = assets.Asset(source, assets.file_digest(source))
    folder = tmp_path / "vendor"
    folder.mkdir()
    claim = folder / f"lib.{asset.digest}.js.br.claim"
    claim.touch()  # another worker is compressing
    assert assets.ready_copy(asset, "br", folder) is None
    assets.wait_for_background(timeout=60)
    assert not (folder / f"lib.{asset.digest}.js.br").exists()
    # A claim left by a process that died long ago is taken over.
    old = claim.stat().st_mtime - assets.STALE_CLAIM - 1
    os.utime(claim, (old, old))
    assert assets.ready_copy(asset, "br", folder) is None
    assets.wait_for_background(timeout=60)
    assert assets.ready_copy(asset, "br", folder) == folder / f"lib.{asset.digest}.js.br"
    assert not claim.exists()


def test_unwritable_instance_folder_sends_the_file_uncompressed(app, tmp_path, caplog):
    source = tmp_path / "lib.js"
    source.write_text("var release = 1;\n" * 500)
    asset = assets.Asset(source, assets.file_digest(source))
    blocked = tmp_path / "not a folder"
    blocked.write_text("a file where the vendor folder should be")
    for accept in ("gzip", "br", CHROMIUM_ACCEPT):
        assert _send(app, asset, blocked / "vendor", accept) == (None, source.read_bytes())
    assets.wait_for_background(timeout=60)
    assert "make the folder writable" in caplog.text
