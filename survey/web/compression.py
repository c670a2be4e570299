"""Compressed responses for slow links: Flask-Compress, configured once, with a BREACH guard.

Focal points often work over 400 kbit/s links; the largest chapter page is ~600 kB of HTML that
brotli brings to ~32 kB. Flask-Compress chooses the encoding from Accept-Encoding, adds
`Vary: Accept-Encoding`, and leaves alone responses that already carry a Content-Encoding (the
precompressed plotly.js of `assets.py`) or whose type is not listed (xlsx downloads are zip files
already). Why requests that another site started are answered uncompressed: SECURITY.md, BREACH.
"""

from __future__ import annotations

from flask import Flask, request
from flask.wrappers import Response
from flask_compress import Compress

# Only the types this app sends that compress well; xlsx (already zip) and images are not here.
MIMETYPES = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "text/csv",
    "text/plain",
    "image/svg+xml",
]

# Sec-Fetch-Site values of requests the user made: typed, bookmarked, or from our own pages.
# Absent (older browsers, scripts calling the API) also counts; see SECURITY.md for that case.
FIRST_PARTY = {"same-origin", "none"}

compress = Compress()


def init_app(app: Flask) -> None:
    """Compress eligible responses of `app`; call it before any other after_request hook is
    registered, so that compression runs last, on the finished response."""
    # Brotli first: the bottleneck is the link, not the CPU. Level 5 is where brotli starts using
    # its context modelling: the largest chapter page 38 kB at level 4, 32 kB at 5, ~8 ms
    # (benchmarks/transfer.py). zstd is left out: at levels with brotli-5's speed it is larger,
    # and every browser that sends zstd also sends br. gzip at 9 for clients without brotli
    # (2 ms more than 6 on that page, 2 kB less; 2 kB is 40 ms at 400 kbit/s).
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    # Streamed bodies (send_file: the static files) are compressed chunk by chunk. Flask-Compress
    # leaves gzip out of its streaming default (written when it compressed each chunk as a whole
    # gzip file); 1.25 streams gzip through one zlib compressor, and a client without brotli
    # would otherwise get the files uncompressed (tests/test_transfer.py decodes both).
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "gzip"])
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    app.config.setdefault("COMPRESS_LEVEL", 9)
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    # Below ~500 bytes a compressed body saves less than the headers it adds.
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    app.config["COMPRESS_REGISTER"] = False  # registered below, behind the BREACH guard
    compress.init_app(app)
    app.after_request(_compress)


def _compress(response: Response) -> Response:
    if request.headers.get("Sec-Fetch-Site", "none") not in FIRST_PARTY:
        # A request another site made the browser send (cross-site or a sibling subdomain):
        # its length must not depend on how well the page's secrets compress with the input
        # that site chose. Caches must still keep the encodings apart.
        response.vary.add("Accept-Encoding")
        return response
    body = response.response
    response = compress.after_request(response)
    if response.response is not body and hasattr(body, "close"):
        # Flask-Compress 1.25 wraps a streamed body (a file from send_file) in its compressing
        # generator, and closing the response then closes only the generator: the file stays
        # open until garbage collection. Close it with the response.
        response.call_on_close(body.close)
    return response
