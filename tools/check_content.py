"""Author's quick check of one instrument file against the reference texts (used while writing content)."""

import json
import re
import sys

import yaml

REF = "/work/shared/reference/treaties/"
RANGES = {
    "UNTOC": list(range(5, 32)) + [34],
    "TIP": list(range(5, 14)),
    "SOM": list(range(5, 19)),
    "FIR": list(range(5, 16)),
    "UNCAC": list(range(5, 63)) + [65],
}
PID = re.compile(r"^(UNTOC|TIP|SOM|FIR|UNCAC)-\d+(-[0-9a-z]+)*$")


class Loader(yaml.SafeLoader):
    pass


Loader.yaml_implicit_resolvers = {
    k: [(t, r) for t, r in v if t != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

shared = yaml.load(open("/work/main/questionnaires/shared.yaml"), Loader=Loader)
ext = shared["external_instruments"]
problems = []
for path in sys.argv[1:]:
    doc = yaml.load(open(path), Loader=Loader)
    chapters = doc.get("chapters") or []
    inst = doc.get("instrument")
    if inst is None:  # partial file: a list of chapters for an instrument
        inst = chapters[0]["provisions"][0]["id"].split("-")[0]
    titles = {a["n"]: a["title"] for a in json.load(open(REF + inst + ".json"))}
    seen = set()
    articles = set()
    count = 0
    for ch in chapters:
        for p in ch["provisions"]:
            count += 1
            pid = p.get("id", "?")
            if not PID.match(pid) or not pid.startswith(inst + "-"):
                problems.append(f"{pid}: bad id")
            if pid in seen:
                problems.append(f"{pid}: duplicate")
            seen.add(pid)
            art = p.get("article")
            if str(pid.split("-")[1]) != str(art):
                problems.append(f"{pid}: article {art} does not match id")
            articles.add(art)
            if p.get("title") != titles.get(art):
                problems.append(f"{pid}: title {p.get('title')!r} != official {titles.get(art)!r}")
            if p.get("obligation") not in ("mandatory", "consider", "optional"):
                problems.append(f"{pid}: obligation {p.get('obligation')!r}")
            s = p.get("summary")
            if not isinstance(s, str) or len(s) < 30:
                problems.append(f"{pid}: summary missing or too short")
            extra = set(p) - {"id", "article", "paragraphs", "title", "obligation", "summary",
                              "cross_references", "extra_questions"}
            if extra:
                problems.append(f"{pid}: unknown keys {extra}")
            for ref in p.get("cross_references") or []:
                if isinstance(ref, str):
                    if not PID.match(ref):
                        problems.append(f"{pid}: bad cross-reference {ref}")
                else:
                    code, a = ref.get("instrument"), str(ref.get("article"))
                    if code not in ext or a not in ext[code]["articles"]:
                        problems.append(f"{pid}: unknown external reference {code} {a}")
    if doc.get("instrument"):
        missing = [a for a in RANGES[inst] if a not in articles]
        if missing:
            problems.append(f"{path}: articles without provisions: {missing}")
    print(f"{path}: {count} provisions, {len(articles)} articles")
print("\n".join(problems) or "OK")
sys.exit(1 if problems else 0)
