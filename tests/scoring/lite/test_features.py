"""Per-language features on tiny snippets: each rule fires where it should and not on the safe twin."""

import time

import numpy as np
import pytest

from themis_rm.schema import Language
from themis_rm.scoring.lite.features import FEATURE_INDEX, FEATURE_NAMES, FEATURES, extract

L = Language


def value(code: str, language: Language | None, name: str, prompt: str = "") -> float:
    return float(extract(code, language, prompt).values[FEATURE_INDEX[name]])


def test_feature_names_are_unique_and_documented():
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(f.doc for f in FEATURES)


# (language, feature, dangerous snippet, safe twin)
DANGERS = [
    (L.C, "sec_memory", "void f(char *d, char *s) { strcpy(d, s); }", "void f(char *d, char *s, size_t n) { strncpy(d, s, n); }"),
    (L.C, "sec_memory", "void f(char *b) { gets(b); }", "void f(char *b, int n) { fgets(b, n, stdin); }"),
    (L.CPP, "sec_memory", "void f(char *b, int x) { sprintf(b, \"%d\", x); }", "void f(char *b, int x) { snprintf(b, 8, \"%d\", x); }"),
    (L.C, "sec_format", "void log_it(char *msg) { printf(msg); }", "void log_it(char *msg) { printf(\"%s\", msg); }"),
    (L.C, "sec_exec", "void run(char *c) { system(c); }", "void run(char *c) { puts(c); }"),
    (L.PYTHON, "sec_exec", "import os\ndef run(c):\n    os.system('ls ' + c)\n", "import subprocess\ndef run(c):\n    subprocess.run(['ls', c])\n"),
    (L.PYTHON, "sec_exec", "import subprocess\ndef run(c):\n    subprocess.call(c, shell=True)\n", "import subprocess\ndef run(c):\n    subprocess.call([c])\n"),
    (L.PYTHON, "sec_exec", "def calc(expr):\n    return eval(expr)\n", "import ast\ndef calc(expr):\n    return ast.literal_eval(expr)\n"),
    (L.JAVA, "sec_exec", "class A { void r(String c) throws Exception { Runtime.getRuntime().exec(c); } }", "class A { void r(String c) { System.out.println(c); } }"),
    (L.GO, "sec_exec", "package main\nimport \"os/exec\"\nfunc r(c string) { exec.Command(\"sh\", \"-c\", c).Run() }\n", "package main\nimport \"os/exec\"\nfunc r(c string) { exec.Command(\"ls\", c).Run() }\n"),
    (L.RUBY, "sec_exec", "def run(c)\n  system(\"ls #{c}\")\nend\n", "def run(c)\n  puts c\nend\n"),
    (L.CSHARP, "sec_exec", "class A { void R(string c) { Process.Start(c); } }", "class A { void R(string c) { Console.WriteLine(c); } }"),
    (L.PYTHON, "sec_deser", "import pickle\ndef load(b):\n    return pickle.loads(b)\n", "import json\ndef load(b):\n    return json.loads(b)\n"),
    (L.PYTHON, "sec_deser", "import yaml\ndef load(b):\n    return yaml.load(b)\n", "import yaml\ndef load(b):\n    return yaml.safe_load(b)\n"),
    (L.JAVA, "sec_deser", "class A { Object r(java.io.InputStream s) throws Exception { return new ObjectInputStream(s).readObject(); } }", "class A { String r(String s) { return s.trim(); } }"),
    (L.RUBY, "sec_deser", "def load(b)\n  Marshal.load(b)\nend\n", "def load(b)\n  JSON.parse(b)\nend\n"),
    (L.CSHARP, "sec_deser", "class A { object R(Stream s) { return new BinaryFormatter().Deserialize(s); } }", "class A { string R(string s) { return s.Trim(); } }"),
    (L.JAVASCRIPT, "sec_html", "function show(el, t) { el.innerHTML = t; }", "function show(el, t) { el.textContent = t; }"),
    (L.JAVASCRIPT, "sec_html", "function show(t) { document.write(t); }", "function show(el, t) { el.append(t); }"),
    (L.RUBY, "sec_html", "def show(t)\n  t.html_safe\nend\n", "def show(t)\n  h(t)\nend\n"),
    (L.GO, "sec_html", "package main\nimport \"html/template\"\nfunc s(t string) template.HTML { return template.HTML(t) }\n", "package main\nimport \"html\"\nfunc s(t string) string { return html.EscapeString(t) }\n"),
    (L.PYTHON, "sec_sql", "def find(cur, name):\n    cur.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\")\n", "def find(cur, name):\n    cur.execute(\"SELECT * FROM users WHERE name = %s\", (name,))\n"),
    (L.PYTHON, "sec_sql", "def find(cur, name):\n    cur.execute(f\"SELECT * FROM users WHERE name = '{name}'\")\n", "def find(cur, name):\n    cur.execute(\"SELECT * FROM users WHERE name = ?\", (name,))\n"),
    (L.JAVA, "sec_sql", "class A { void f(Statement s, String n) throws Exception { s.executeQuery(\"SELECT * FROM t WHERE n = '\" + n + \"'\"); } }", "class A { void f(Connection c, String n) throws Exception { PreparedStatement p = c.prepareStatement(\"SELECT * FROM t WHERE n = ?\"); p.setString(1, n); } }"),
    (L.RUBY, "sec_sql", "def f(n)\n  User.find_by_sql(\"select * from users where name = '#{n}'\")\nend\n", "def f(n)\n  User.where('name = ?', n)\nend\n"),
    (L.GO, "sec_sql", "package main\nfunc q(db *sql.DB, n string) { db.Query(\"SELECT * FROM t WHERE n = '\" + n + \"'\") }\n", "package main\nfunc q(db *sql.DB, n string) { db.Query(\"SELECT * FROM t WHERE n = ?\", n) }\n"),
    (L.PYTHON, "sec_hash", "import hashlib\ndef h(p):\n    return hashlib.md5(p).hexdigest()\n", "import hashlib\ndef h(p):\n    return hashlib.sha256(p).hexdigest()\n"),
    (L.JAVA, "sec_hash", "class A { Object h() throws Exception { return MessageDigest.getInstance(\"SHA1\"); } }", "class A { Object h() throws Exception { return MessageDigest.getInstance(\"SHA-256\"); } }"),
    (L.JAVASCRIPT, "sec_random", "function token() { return Math.random().toString(36); }", "const crypto = require('crypto');\nfunction token() { return crypto.randomBytes(16).toString('hex'); }"),
    (L.PYTHON, "sec_tls", "import requests\ndef get(u):\n    return requests.get(u, verify=False)\n", "import requests\ndef get(u):\n    return requests.get(u)\n"),
    (L.GO, "sec_tls", "package main\nimport \"crypto/tls\"\nvar c = &tls.Config{InsecureSkipVerify: true}\n", "package main\nimport \"crypto/tls\"\nvar c = &tls.Config{MinVersion: tls.VersionTLS12}\n"),
    (L.JAVASCRIPT, "sec_tls", "const agent = new https.Agent({ rejectUnauthorized: false });", "const agent = new https.Agent({ keepAlive: true });"),
    (L.PYTHON, "sec_secret", "API_KEY = \"sk_live_1234567890abcdef\"\n", "import os\nAPI_KEY = os.environ[\"API_KEY\"]\n"),
    (L.PYTHON, "sec_compare", "def ok(token, expected):\n    return token == expected\n", "import hmac\ndef ok(token, expected):\n    return hmac.compare_digest(token, expected)\n"),
]


@pytest.mark.parametrize(("language", "feature", "dangerous", "safe"), DANGERS,
                         ids=[f"{d[0].value}-{d[1]}-{i}" for i, d in enumerate(DANGERS)])
def test_dangerous_pattern_is_detected_and_its_safe_twin_is_not(language, feature, dangerous, safe):
    assert value(dangerous, language, feature) > 0
    assert value(safe, language, feature) == 0
    assert value(dangerous, language, "danger_total") > value(safe, language, "danger_total")


@pytest.mark.parametrize(("language", "feature", "code"), [
    (L.PYTHON, "safe_crypto", "import hmac\ndef ok(a, b):\n    return hmac.compare_digest(a, b)\n"),
    (L.C, "safe_memory", "void f(char *d, const char *s, size_t n) { snprintf(d, n, \"%s\", s); }"),
    (L.JAVA, "safe_param_sql", "class A { void f(Connection c) throws Exception { c.prepareStatement(\"SELECT 1\"); } }"),
    (L.JAVASCRIPT, "safe_escape", "function f(s) { return encodeURIComponent(s); }"),
    (L.PYTHON, "safe_validate", "from werkzeug.utils import secure_filename\ndef f(n):\n    return secure_filename(n)\n"),
])
def test_safe_counterparts_are_counted(language, feature, code):
    assert value(code, language, feature) > 0


NESTED_LOOPS = {
    L.PYTHON: "def f(a):\n    for x in a:\n        for y in a:\n            print(x, y)\n",
    L.JAVA: "class A { void f(int[] a) { for (int x : a) { for (int y : a) { System.out.println(x + y); } } } }",
    L.JAVASCRIPT: "function f(a) { for (const x of a) { for (let i = 0; i < a.length; i++) { console.log(x); } } }",
    L.GO: "package main\nfunc f(a []int) {\n\tfor _, x := range a {\n\t\tfor _, y := range a {\n\t\t\t_ = x + y\n\t\t}\n\t}\n}\n",
    L.RUBY: "def f(a)\n  a.each do |x|\n    a.each { |y| puts x + y }\n  end\nend\n",
    L.C: "void f(int *a, int n) { for (int i = 0; i < n; i++) { int j = 0; while (j < n) { j++; } } }",
    L.CPP: "void f(std::vector<int>& a) { for (int x : a) { for (int y : a) { g(x, y); } } }",
    L.CSHARP: "class A { void F(int[] a) { foreach (var x in a) { for (int i = 0; i < a.Length; i++) { G(x); } } } }",
}


@pytest.mark.parametrize("language", list(NESTED_LOOPS))
def test_loop_nesting_is_counted(language):
    assert value(NESTED_LOOPS[language], language, "max_loop_depth") == 2
    assert value(NESTED_LOOPS[language], language, "nested_loops") > 0
    assert value(NESTED_LOOPS[language], language, "loops") > 0


@pytest.mark.parametrize(("language", "feature", "in_loop", "outside"), [
    (L.PYTHON, "search_in_loop", "def f(a, b):\n    for x in a:\n        b.index(x)\n", "def f(a, b):\n    b.index(a[0])\n"),
    (L.JAVA, "search_in_loop", "class A { void f(List<Integer> a) { for (int x : a) { a.indexOf(x); } } }", "class A { void f(List<Integer> a) { a.indexOf(1); } }"),
    (L.C, "search_in_loop", "void f(char *s) { for (int i = 0; i < strlen(s); i++) { s[i] = 0; } }", "void f(char *s) { int n = strlen(s); s[n] = 0; }"),
    (L.PYTHON, "concat_in_loop", "def f(a):\n    s = ''\n    for x in a:\n        s += 'x'\n    return s\n", "def f(a):\n    return ''.join(a)\n"),
    (L.JAVA, "alloc_in_loop", "class A { void f(int n) { for (int i = 0; i < n; i++) { Object o = new Object(); } } }", "class A { void f(int n) { Object o = new Object(); } }"),
    (L.PYTHON, "sort_in_loop", "def f(a):\n    for x in a:\n        a.sort()\n", "def f(a):\n    a.sort()\n"),
])
def test_extra_factor_of_n_patterns_only_count_inside_loops(language, feature, in_loop, outside):
    assert value(in_loop, language, feature) > 0
    assert value(outside, language, feature) == 0


BROKEN = {
    L.PYTHON: ("def f(x):\n    return x\n", "def f(x)\n    return x\n"),
    L.JAVA: ("class A { int f() { return 1; } }", "class A { int f() { return 1 } }"),
    L.JAVASCRIPT: ("function f() { return 1; }", "function f() { return (1; }"),
    L.GO: ("package main\nfunc f() int { return 1 }\n", "package main\nfunc f() int { return 1 \n"),
    L.RUBY: ("def f\n  1\nend\n", "def f\n  (1\nend\n"),
    L.C: ("int f(void) { return 1; }", "int f(void) { return 1 }"),
    L.CPP: ("int f() { return 1; }", "int f() { return (1; }"),
    L.CSHARP: ("class A { int F() { return 1; } }", "class A { int F() { return 1 } }"),
}


@pytest.mark.parametrize("language", list(BROKEN))
def test_syntax_errors_give_error_nodes(language):
    good, bad = BROKEN[language]
    assert value(good, language, "parse_error") == 0 and value(good, language, "error_nodes") == 0
    assert value(bad, language, "parse_error") == 1 and value(bad, language, "error_nodes") > 0
    assert extract(bad, language).syntax_error and not extract(good, language).syntax_error


@pytest.mark.parametrize(("language", "feature", "code", "clean"), [
    (L.PYTHON, "unused_imports", "import os\nimport sys\nprint(sys.argv)\n", "import sys\nprint(sys.argv)\n"),
    (L.PYTHON, "docstrings", "def f():\n    \"\"\"Say why.\"\"\"\n    return 1\n", "def f():\n    return 1\n"),
    (L.PYTHON, "empty_catch", "try:\n    f()\nexcept Exception:\n    pass\n", "try:\n    f()\nexcept Exception:\n    log()\n"),
    (L.JAVA, "empty_catch", "class A { void f() { try { g(); } catch (Exception e) { } } }", "class A { void f() { try { g(); } catch (Exception e) { log(e); } } }"),
    (L.C, "assign_in_cond", "int f(int x) { if (x = 1) return 1; return 0; }", "int f(int x) { if (x == 1) return 1; return 0; }"),
    (L.JAVASCRIPT, "unreachable", "function f() { return 1; g(); }", "function f() { g(); return 1; }"),
    (L.PYTHON, "smells", "def f(x):\n    if x == None:\n        return 1\n", "def f(x):\n    if x is None:\n        return 1\n"),
    (L.JAVA, "resource_blocks", "class A { void f() throws Exception { try (var r = new FileReader(\"a\")) { r.read(); } } }", "class A { void f() throws Exception { var r = new FileReader(\"a\"); r.read(); } }"),
    (L.GO, "resource_blocks", "package main\nfunc f() { m.Lock()\n defer m.Unlock() }\n", "package main\nfunc f() { m.Lock()\n m.Unlock() }\n"),
])
def test_structure_and_style_features(language, feature, code, clean):
    assert value(code, language, feature) > value(clean, language, feature)


def test_topic_features_follow_the_prompt():
    code = "import os\ndef ping(host):\n    os.system('ping ' + host)\n"
    assert value(code, L.PYTHON, "danger_topic", prompt="Run a shell command to ping a host") > 0
    assert value(code, L.PYTHON, "danger_topic", prompt="Compute a checksum") == 0


@pytest.mark.parametrize("response", [
    "", " ", "\n\n\n", "```\n```", "```python\n", "\x00\x01\x02 garbage \xff", "}{)(][" * 500, "ünïcödé ☃ 🚀",
    "```python\ndef f(:\n```", "a" * 300_000, ("'" + "x" * 150) * 2000, "\ud83d",
])
@pytest.mark.parametrize("language", [None, L.PYTHON, L.CPP, L.RUBY])
def test_odd_input_gives_finite_features(response, language):
    started = time.perf_counter()
    values = extract(response, language, "prompt").values
    assert values.shape == (len(FEATURE_NAMES),) and np.isfinite(values).all()
    assert time.perf_counter() - started < 5.0


def test_unknown_language_still_reads_dangerous_calls():
    plain = extract("eval(user_input) strcpy(a, b)", None)
    assert plain.language is None
    assert plain.values[FEATURE_INDEX["unparsed"]] == 1
    assert plain.values[FEATURE_INDEX["danger_total"]] > 0


@pytest.mark.parametrize(("language", "dangerous", "safe"), [
    (L.PYTHON, "import subprocess\ndef t(url):\n    return subprocess.check_output('youtube-dl %s' % url,\n                                   shell=True)\n",
     "import subprocess\ndef t(url):\n    return subprocess.check_output(['youtube-dl', url])\n"),
    (L.JAVASCRIPT, "function up(cp, url) { cp.exec('curl \"' + url + '\"', done); }",
     "function up(cp, url) { cp.execFile('curl', [url], done); }"),
    (L.RUBY, "def ping(host)\n  system(\"ping -c 1 #{host}\")\nend\n", "def ping(host)\n  system('ping', '-c', '1', host)\nend\n"),
])
def test_command_lines_built_from_strings(language, dangerous, safe):
    assert value(dangerous, language, "sec_exec_built") + value(dangerous, language, "sec_exec") > 0
    assert value(safe, language, "sec_exec_built") == 0


def test_weak_rsa_key_size():
    assert value("from Crypto.PublicKey import RSA\nkey = RSA.generate(1024)\n", L.PYTHON, "sec_hash") > 0
    assert value("from Crypto.PublicKey import RSA\nkey = RSA.generate(2048)\n", L.PYTHON, "sec_hash") == 0


def test_stem_cache_gives_the_same_features_as_no_cache(monkeypatch):
    from themis_rm.scoring.lite import facts
    from themis_rm.scoring.lite.rules import compiled_rules

    snippets = [(L.PYTHON, "import hashlib, html\ndef h(x):\n    return html.escape(hashlib.sha256(x).hexdigest())\n"),
                (L.JAVASCRIPT, "function v(input) { if (!validateInput(input)) return; return sanitizeHtml(input); }")]
    warm = [extract(code, language).values for language, code in snippets]
    for language, _ in snippets:
        compiled_rules(language).stem_seen.clear()
        compiled_rules(language).stem_hits.clear()
    monkeypatch.setattr(facts, "_STEM_CACHE_LIMIT", 0)  # nothing is remembered: every word is checked afresh
    cold = [extract(code, language).values for language, code in snippets]
    for a, b in zip(warm, cold):
        assert np.array_equal(a, b)
    assert warm[0][FEATURE_INDEX["safe_escape"]] > 0 and warm[1][FEATURE_INDEX["safe_validate"]] > 0


@pytest.mark.parametrize("vocabulary", ["index indexOf lastIndexOf contains count", "a ab abc", "sort sorted sort_by x",
                                        "exec execSync exec_file"])
def test_word_tries_match_exactly_their_words(vocabulary):
    import re

    from themis_rm.scoring.lite.rules import words

    pattern = re.compile(words(vocabulary))
    for word in vocabulary.split():
        assert pattern.fullmatch(word)
    for other in ("", "zzz", "inde", "sorte", "exe"):
        assert not pattern.fullmatch(other)
