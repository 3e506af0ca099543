"""Lexical rule tables: dangerous APIs, safe counterparts, efficiency and style patterns.

Everything here is data. A category maps a language (or `ANY`) to a `Rule` of three kinds:

* `names`: identifiers counted wherever they occur (`strcpy`, `BinaryFormatter`), or dotted
  names (`os.system`, `pickle.loads`) matched as a receiver and a member;
* `stems`: lower-case fragments counted inside any word (`sanitiz`, `password`);
* `patterns`: regular expressions over the code with comments blanked, for what a name
  cannot say (SQL built by concatenation, `verify=False`). Each has a gate, the words (or
  symbols) without which it cannot match, so that most patterns never run on most code.

Counting a name is a dictionary look-up per distinct token and a gated pattern usually costs
nothing, which keeps the scorer fast. Quantifiers are bounded (`{0,200}`), so hostile input
cannot make a pattern backtrack for long.

`POSITIONAL` categories are patterns that are also counted over the loop bodies alone: a
search, sort, concatenation, copy, allocation or I/O call per iteration is the usual extra
factor of n. SQL built by concatenation is judged per string literal
(`sql_built_by_concatenation`): does a literal that holds SQL get joined to something?
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from themis_rm.schema import Language

ANY = "*"
C, CPP, CS, GO, JAVA, JS, PY, RB = (
    Language.C, Language.CPP, Language.CSHARP, Language.GO, Language.JAVA, Language.JAVASCRIPT,
    Language.PYTHON, Language.RUBY,
)
C_FAMILY = (C, CPP)
BRACES = (C, CPP, CS, GO, JAVA, JS)


@dataclass(frozen=True)
class P:
    """A pattern and its gate: words that must occur as tokens, or else symbols that must occur."""

    regex: str
    gate: str = ""


@dataclass(frozen=True)
class Rule:
    names: str = ""
    stems: str = ""
    patterns: tuple[P, ...] = ()


def R(names: str = "", stems: str = "", *patterns: P) -> Rule:
    return Rule(names, stems, tuple(patterns))


def words(names: list[str] | str) -> str:
    """A regex alternation of literal words as a trie, so the engine rejects a position after one letter."""

    def build(group: list[str]) -> str:
        if group == [""]:
            return ""
        heads: dict[str, list[str]] = {}
        for word in group:
            if word:
                heads.setdefault(word[0], []).append(word[1:])
        parts = [re.escape(head) + build(rest) for head, rest in heads.items()]
        body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
        return "(?:" + body + ")?" if "" in group else body

    return "(?:" + build(sorted(set(names.split() if isinstance(names, str) else names))) + ")"


def cased(names: str) -> str:
    """A trie alternation of each word as written, Capitalised and UPPER-CASED (no slow (?i) scan)."""
    return words([form for w in names.split() for form in (w, w.capitalize(), w.upper())])


def member(names: str) -> P:
    """A method call `.name(`: it starts with a literal dot, so the engine skips ahead in C."""
    return P(r"\." + words(n.rstrip("?") + ("\\?" if n.endswith("?") else "") for n in names.split()) + r"\s*\(",
             " ".join(n.rstrip("?") for n in names.split()))


def call(names: str, tail: str = r"\s*\(") -> P:
    """A call of any of `names` (a trie alternation followed by `tail`), gated by the names."""
    return P(words(names) + tail, names)


_S = r"[^\"'`\n]{0,200}"
_SQL = r"(?:[Ss][Ee][Ll][Ee][Cc][Tt]\s|[Ii][Nn][Ss][Ee][Rr][Tt]\s+[Ii][Nn][Tt][Oo]|[Uu][Pp][Dd][Aa][Tt][Ee]\s+\w+\s+[Ss][Ee][Tt]|" \
       r"[Dd][Ee][Ll][Ee][Tt][Ee]\s+[Ff][Rr][Oo][Mm]|[Ww][Hh][Ee][Rr][Ee]\s|[Vv][Aa][Ll][Uu][Ee][Ss]\s*\(|[Dd][Rr][Oo][Pp]\s+[Tt][Aa][Bb][Ll][Ee])"
_SECRET_GATE = "~password ~passwd ~token ~secret ~signature ~hmac ~digest ~apikey ~api_key"

RULES: dict[str, dict[object, Rule]] = {
    # ---- security: dangerous patterns -------------------------------------------------------
    "sec_memory": {
        C_FAMILY: R("strcpy strcat wcscpy wcscat stpcpy gets sprintf vsprintf alloca", "",
                    P(r"\b(?:scanf|sscanf|fscanf)\s*\([^;\n]{0,80}\"[^\"\n]{0,40}%s", "scanf sscanf fscanf")),
    },
    "sec_format": {
        C_FAMILY: R("", "",
                    P(r"\b(?:printf|syslog|vprintf)\s*\(\s*(?:LOG_\w+\s*,\s*)?[A-Za-z_][\w\->.\[\]]{0,40}\s*\)",
                      "printf syslog vprintf"),
                    P(r"\bfprintf\s*\(\s*\w+\s*,\s*[A-Za-z_][\w\->.\[\]]{0,40}\s*\)", "fprintf")),
    },
    "sec_exec": {
        PY: R("os.system os.popen os.popen2 os.execl os.execv os.execvp os.spawnl os.spawnv eval exec "
              "commands.getoutput commands.getstatusoutput __import__", "",
              P(r"\bsubprocess\.\w+\([^)]{0,300}shell\s*=\s*True", "shell")),
        JS: R("eval execSync child_process vm.runInNewContext vm.runInThisContext vm.runInContext", "",
              P(r"\bnew\s+Function\s*\(", "Function"), P(r"(?<![.\w])exec\s*\(", "exec"),
              P(r"\bset(?:Timeout|Interval)\s*\(\s*[\"'`]", "setTimeout setInterval")),
        JAVA: R("ScriptEngine Class.forName", "", P(r"\bgetRuntime\s*\(\s*\)\s*\.exec\s*\(", "getRuntime")),
        C_FAMILY: R("system popen execl execlp execle execv execvp execve WinExec ShellExecute ShellExecuteA "
                    "ShellExecuteW"),
        GO: R("", "", P(r"\bexec\.Command\s*\(\s*\"(?:/bin/)?(?:sh|bash|cmd)\"", "Command"),
              P(r"\bexec\.Command\s*\([^)\n]{0,200}\+", "Command")),
        RB: R("eval instance_eval class_eval module_eval system exec spawn syscall IO.popen Kernel.open Open3 "
              "constantize", "",
              P(r"`[^`\n]{0,200}#\{", "`"), P(r"%x[({\[]", "%x"), P(r"(?<![.\w:])open\s*[( ]", "open"),
              P(r"\.(?:send|public_send)\s*\(\s*params", "params")),
        CS: R("Process.Start CompileAssemblyFromSource"),
    },
    "sec_exec_built": {  # a command line built from strings: the shell sees whatever the variable holds
        ANY: R("", "", P(words("exec execSync system popen check_output check_call getoutput getstatusoutput Popen spawn "
                               "shell_exec Command run call") +
                         r"\s*\(\s*(?:[^,()\n]{0,120}?(?:[\"'`]\s*\+|\+\s*[\"'`]|[\"']\s*%\s*[\w(]|\.format\s*\(|#\{|\$\{)"
                         r"|f[\"'][^\"'\n]{0,120}\{)",
                         "exec execSync system popen check_output check_call getoutput getstatusoutput Popen spawn "
                         "shell_exec Command run call")),
    },
    "sec_deser": {
        PY: R("pickle.loads pickle.load pickle.Unpickler cPickle.loads cPickle.load _pickle.loads dill.loads "
              "dill.load shelve.open marshal.loads marshal.load jsonpickle.decode", "",
              P(r"\byaml\.(?:load|load_all|unsafe_load|full_load)\s*\((?![^)\n]{0,200}SafeLoader)", "yaml")),
        JAVA: R("ObjectInputStream readObject XMLDecoder XStream enableDefaultTyping"),
        RB: R("Marshal.load YAML.load YAML.unsafe_load Psych.load"),
        CS: R("BinaryFormatter NetDataContractSerializer LosFormatter", "",
              P(r"TypeNameHandling\.(?:All|Auto|Objects|Arrays)", "TypeNameHandling")),
        JS: R("unserialize yaml.load", "", P(r"node-serialize", "serialize")),
    },
    "sec_html": {
        JS: R("innerHTML outerHTML document.write document.writeln insertAdjacentHTML dangerouslySetInnerHTML "
              "bypassSecurityTrustHtml bypassSecurityTrustScript bypassSecurityTrustUrl", "",
              P(r"\.html\s*\(\s*[^)\s]", "html"),
              P(r"\.(?:append|prepend|after|before|replaceWith)\s*\(\s*[\"'`]\s*<", "append prepend after before replaceWith"),
              P(r"\$\(\s*[\"'`]\s*<[^)\n]{0,200}\+", "$("),
              P(r"\bres\.(?:send|write)\s*\([^)\n]{0,200}\+", "send write")),
        PY: R("Markup mark_safe render_template_string", "",
              P(r"\|\s*safe\b", "safe"), P(r"autoescape\s*=\s*False", "autoescape"),
              P(r"[\"'][^\"'\n]{0,200}<\w[^\"'\n]{0,200}[\"']\s*(?:%|\+|\.format\b)", "<")),
        RB: R("html_safe raw", "", P(r"<%==", "<%=="), P(r"\brender\s+(?:inline|text):", "render")),
        GO: R("template.HTML", "", P(r"\"text/template\"", "template"), P(r"\bfmt\.Fprint\w*\s*\(\s*w\s*,", "fmt"),
              P(r"\bw\.Write\s*\(\s*\[\]byte\(", "Write")),
        JAVA: R("", "", P(r"\bgetWriter\s*\(\s*\)\s*\.(?:print|println|write)\s*\([^)\n]{0,200}\+", "getWriter")),
        CS: R("Html.Raw Response.Write HtmlString"),
    },
    "sec_sql": {},  # counted per string literal by `sql_built_by_concatenation` below, not by patterns
    "sec_hash": {  # weak hashes, ciphers and key sizes
        ANY: R("md5 MD5 Md5 md4 MD4 md2 MD2 sha1 SHA1 Sha1 DES DESede TripleDES RC4 rc4 arcfour ECB ecb Blowfish "
               "blowfish", "", P(r"(?i)\bsha-1\b", "sha SHA Sha"),
               P(cased("rsa key_size keysize bits modulus") + r"[\w.]{0,20}\s*[=(,:]\s*(?:512|768|1024)\b",
                 "~rsa ~key_size ~keysize ~bits ~modulus")),
    },
    "sec_random": {
        JS: R("Math.random"),
        C_FAMILY: R("rand srand random drand48"),
        PY: R("random.random random.randint random.choice random.randrange random.seed"),
        JAVA: R("Math.random", "", P(r"\bnew\s+Random\s*\(", "Random")),
        GO: R("", "", P(r"\"math/rand\"", "rand")),
        CS: R("", "", P(r"\bnew\s+Random\s*\(", "Random")),
        RB: R("rand Random.new"),
    },
    "sec_tls": {
        ANY: R("CERT_NONE _create_unverified_context NODE_TLS_REJECT_UNAUTHORIZED VERIFY_NONE SSL_VERIFY_NONE "
               "ServerCertificateValidationCallback ALLOW_ALL_HOSTNAME_VERIFIER SSLv2 SSLv3 SSLv23 TLSv1 "
               "PROTOCOL_SSLv2 PROTOCOL_SSLv3 PROTOCOL_SSLv23 PROTOCOL_TLSv1 TrustAllCerts TrustAllCertificates ssl.wrap_socket",
               "",
               P(r"\bverify\s*=\s*False\b", "verify"), P(r"check_hostname\s*=\s*False", "check_hostname"),
               P(r"rejectUnauthorized\s*:\s*false", "rejectUnauthorized"),
               P(r"InsecureSkipVerify\s*:\s*true", "InsecureSkipVerify"),
               P(r"CURLOPT_SSL_VERIFY(?:PEER|HOST)\s*,\s*(?:0|0L|false)\b",
                 "CURLOPT_SSL_VERIFYPEER CURLOPT_SSL_VERIFYHOST")),
    },
    "sec_secret": {
        ANY: R("", "", P(cased("password passwd pwd secret api_key apikey access_key accesskey auth_token authtoken private_key "
                         "privatekey") + r"\w{0,30}"
                         r"[\"']?\s*(?::|=|=>)\s*[\"'][^\"'\s]{4,200}[\"']",
                         "~password ~passwd ~pwd ~secret ~api_key ~apikey ~access_key ~accesskey ~auth_token ~authtoken "
                         "~private_key ~privatekey")),
    },
    "sec_compare": {
        ANY: R("", "",
               P(cased("password passwd token secret signature hmac digest api_key apikey") + r"\w{0,30}\s*(?:===?|!==?)\s*\S",
                 _SECRET_GATE),
               P(r"[!=]==?\s*\w{0,30}" + cased("password passwd token secret signature hmac digest") + r"\b", _SECRET_GATE)),
        (JAVA, CS): R("", "", P(r"(?i)\.equals\s*\(\s*\w{0,30}(?:password|token|secret|signature|hmac|digest)", "equals")),
        C_FAMILY: R("", "", P(r"(?i)\b(?:strcmp|memcmp|strncmp)\s*\([^)\n]{0,200}(?:pass|token|secret|sig|hmac|digest|mac)",
                              "strcmp memcmp strncmp")),
    },
    "sec_misc": {
        ANY: R("mktemp tmpnam tempnam tempfile.mktemp", "",
               P(r"\bchmod\s*\([^)\n]{0,100}0?o?777\b", "chmod"), P(r"\bdebug\s*=\s*True\b", "debug"),
               P(r"Access-Control-Allow-Origin[\"']?\s*[,:]\s*[\"']\*", "Access"),
               P(r"\bredirect(?:_to)?\s*\(?\s*(?:params|request\.)", "redirect redirect_to")),
        GO: R("", "", P(r",\s*_\s*:?=\s*\w", ", _")),
    },
    # ---- security: the safe counterparts ----------------------------------------------------
    "safe_escape": {
        ANY: R("textContent innerText createTextNode shlex.quote", "escape sanitiz htmlspecialchars htmlentities encodeuri "
               "encodeforhtml strip_tags purif bleach quote_plus urlencode shellescape shellwords"),
        JS: R("", "", P(r"\.text\s*\(", "text")),
        RB: R("", "", P(r"(?<![.\w])h\s*\(", "h")),
    },
    "safe_validate": {
        ANY: R("filepath.Clean basename startswith startsWith HasPrefix isdigit isalnum isnumeric matches GetFileName",
               "validat is_valid isvalid whitelist allowlist allowed_ permit secure_filename realpath normpath abspath "
               "canonical getfullpath max_len maxlen max_size limit"),
    },
    "safe_param_sql": {
        ANY: R("PreparedStatement prepareStatement bindParam bindValue sanitize_sql sanitize_sql_array setString "
               "setInt setLong AddWithValue Prepare prepare sqlite3_bind_text sqlite3_bind_int Parameters", "",
               P(r"(?:=\s*|\(\s*|LIKE\s+|IN\s*\(\s*)(?:\?|%s|:\w+|\$\d|@\w+)[^\"'\n]{0,200}[\"']\s*,", "? %s $1 $2")),
    },
    "safe_memory": {
        C_FAMILY: R("strncpy strncat strlcpy strlcat snprintf vsnprintf fgets strnlen memcpy_s strcpy_s strncpy_s "
                    "memmove calloc sizeof SIZE_MAX INT_MAX UINT_MAX SSIZE_MAX LONG_MAX", "__builtin_"),
        CPP: R("string vector array unique_ptr shared_ptr span string_view", "", P(r"\.at\s*\(", "at")),
        (GO, CS, JAVA): R("addExact multiplyExact checked"),
    },
    "safe_crypto": {
        ANY: R("compare_digest timingSafeEqual ConstantTimeCompare secure_compare CRYPTO_memcmp FixedTimeEquals "
               "MessageDigest.isEqual secrets SecureRandom urandom randomBytes getRandomValues randomUUID "
               "RandomNumberGenerator safe_load SafeLoader literal_eval",
               "sha256 sha384 sha512 sha3_ bcrypt scrypt argon2 pbkdf2 blake2", P(r"\"crypto/rand\"", "rand")),
    },
    "coerce": {
        ANY: R("to_i to_f Integer Float int float Number parseInt parseFloat strtol strtoul strtoll strtoull strtod "
               "strtof Atoi ParseInt ParseUint ParseFloat parseLong TryParse"),
        C_FAMILY: R("", "", P(r"\(\s*(?:unsigned\s+|signed\s+|const\s+)?(?:int|long|short|char|size_t|ssize_t|off_t|"
                              r"u?int\d+_t|[a-z]\w{0,30}_t)\s*\**\s*\)\s*[\w(]", "(")),
    },
    "null_check": {
        C_FAMILY: R("", "", P(r"(?:NULL|nullptr)\s*[!=]=", "NULL nullptr")),  # Yoda style, common in C
        ANY: R("requireNonNull", "",
               P(r"[!=]==?\s*(?:NULL|nullptr|null|nil|None|undefined)\b", "NULL nullptr null nil None undefined"),
               P(r" is\s+(?:not\s+)?None\b", "None"), P(r"\.nil\?", "nil"), P(r"\?\.\w", "?."),
               P(r"if\s*\(\s*!\s*[A-Za-z_][\w\->.]{0,40}\s*\)", "if"), P(r"if\s+not\s+\w+\s*:", "not"),
               P(r"\bunless\s+\w", "unless")),
    },
    "err_check": {
        ANY: R("try catch except rescue finally ensure throw throws raise errno perror strerror EOF", "",
               P(r"\bif\s+err\s*!=\s*nil", "err"), P(r"<\s*0\s*\)", "<"), P(r"==\s*-1\b", "==")),
    },
    # ---- efficiency ----------------------------------------------------------------------------
    "eff_search": {
        C_FAMILY: R("", "", call("strstr strchr strlen wcslen lfind"), P(r"std::(?:find|count|search)\b", "std")),
        ANY: R("", "", member("index indexOf lastIndexOf contains includes count find findIndex remove insert search "
                      "IndexOf Contains Remove Insert delete shift unshift splice include?"),
               P(r"\.pop\s*\(\s*0\s*\)", "pop")),
    },
    "eff_sort": {
        ANY: R("", "", call("sort sorted sort_by Sort OrderBy stable_sort qsort Slice Ints Strings", r"\s*[({]")),
    },
    "eff_concat": {
        ANY: R("", "", P(r"\+=\s*(?:[\"'`]|str\s*\(|String\.valueOf|\w+\.toString\s*\()", "+="),
               P(r"[\"'`]\s*\+\s*\w", "+"), P(r"(?:\bstrcat|\.concat)\s*\(", "strcat concat")),
    },
    "eff_alloc": {
        (JAVA, CS, CPP, JS): R("", "", P(r"new\s+[A-Za-z_]", "new")),
        C_FAMILY: R("", "", call("malloc calloc realloc strdup")),
        GO: R("", "", call("make")),
        JS: R("", "", call("Array"), P(r"=\s*\[\s*\]", "[]"), P(r"=\s*\{\s*\}", "{}")),
        PY: R("", "", call("list dict set tuple bytearray"), P(r"=\s*\[\s*\]", "[]"), P(r"=\s*\{\s*\}", "{}")),
        RB: R("", "", P(r"\.new\b", "new"), P(r"=\s*\[\s*\]", "[]"), P(r"=\s*\{\s*\}", "{}")),
    },
    "eff_copy": {
        ANY: R("", "", P(r"\[\s*:\s*\]|\[\s*\w{1,30}\s*:\s*\]|\[\s*:\s*\w{1,30}\s*\]", ":"),
               P(r"\.(?:copy|clone|dup|slice|substring|substr|toArray|ToList|ToArray|to_a|deepcopy|copyOf|copyOfRange|"
                 r"arraycopy)\b", "copy clone dup slice substring substr toArray ToList ToArray to_a deepcopy copyOf "
                 "copyOfRange arraycopy"),
               P(r"\b(?:memcpy|strdup)\s*\(", "memcpy strdup"), P(r"Array\.from\s*\(", "Array"),
               P(r"\.\.\.\s*[A-Za-z_]", "..."), P(r"list\s*\(\s*\w", "list")),
    },
    "eff_io": {
        PY: R("", "", call("print input")),
        C_FAMILY: R("", "", call("printf puts scanf gets getchar putchar")),
        CPP: R("", "", P(r"cout\s*<<", "cout"), P(r"cin\s*>>", "cin")),
        JAVA: R("", "", P(r"System\.out\.print", "System")),
        JS: R("", "", P(r"console\.log\b", "console")),
        GO: R("", "", P(r"fmt\.(?:Print|Scan)", "fmt")),
        CS: R("", "", P(r"Console\.(?:Write|Read)", "Console")),
        RB: R("", "", P(r"(?<![.\w])(?:puts|p|print|gets)\b", "puts p print gets")),
    },
    "eff_fast_io": {
        ANY: R("BufferedReader BufferedWriter BufferedInputStream BufferedOutputStream StringBuilder StringBuffer "
               "sync_with_stdio getchar_unlocked fread StreamTokenizer bufio stdin.readline stdin.buffer stdin.read "
               "stdout.write cin.tie", "", P(r"\\n[\"']\.join\s*\(", "join")),
    },
    "eff_hash": {
        ANY: R("set dict frozenset defaultdict Counter OrderedDict HashMap HashSet LinkedHashMap TreeMap TreeSet "
               "Hashtable ConcurrentHashMap unordered_map unordered_set Dictionary SortedDictionary SparseArray ArrayMap "
               "Map Set WeakMap std.map std.set Hash.new Set.new", "", P(r"\bmap\[", "map")),
        PY: R("", "", P(r"=\s*\{\s*\}", "{}")),
    },
    "eff_builtin": {
        ANY: R("sum min max any all map filter zip enumerate reversed accumulate transform lower_bound upper_bound "
               "unique reverse max_element min_element partial_sum fill iota stream Sum Max Min Select Where Any All "
               "bisect_left bisect_right heappush heappop accumulate Counter defaultdict"),
    },
    "eff_stream": {
        ANY: R("yield readline lazy Iterator IEnumerable NewReader fgets each_line createReadStream bufio.Scanner",
               "chunk"),
    },
    "eff_prealloc": {
        ANY: R("reserve ensureCapacity np.zeros np.empty", "",
               P(r"new\s+(?:ArrayList|StringBuilder|HashMap|HashSet|StringBuffer|List|Dictionary)\s*(?:<[^>\n]{0,80}>)?"
                 r"\s*\(\s*\w", "new"),
               P(r"(?<![.\w])make\s*\([^,()\n]{1,80},[^)\n]{1,80}\)", "make"),
               P(r"new\s+\w+\s*\[\s*\w+\s*\]", "new")),
        PY: R("", "", P(r"\[\s*(?:0|None|False|-1|0\.0)\s*\]\s*\*", "]")),
    },
    "eff_memo": {
        ANY: R("lru_cache dp", "memo cache"),
    },
    "eff_boxed": {
        JAVA: R("Integer Long Double Float Short Byte Character Boolean"),
        CS: R("object ArrayList"),
    },
    # ---- memory and resources ------------------------------------------------------------------
    "mem_release": {
        ANY: R("close Close dispose Dispose recycle release destroy cancel clear shutdown unref removeCallbacks "
               "removeCallbacksAndMessages removeListener removeObserver interrupt fclose free munmap closedir delete "
               "WeakReference SoftReference WeakHashMap weakref WeakMap WeakSet shrink_to_fit unregisterReceiver "
               "unregister unregisterListener", "",
               P(r"=\s*(?:null|nil|None|NULL|nullptr)\s*;?\s*$", "null nil None NULL nullptr"), P(r"\bdel\s+\w", "del")),
    },
    "mem_acquire": {
        ANY: R("open fopen malloc calloc realloc socket opendir mmap createReadStream decodeFile decodeStream "
               "decodeResource createBitmap connect register registerReceiver addListener addObserver setCallback "
               "getConnection os.Open os.Create File.open", "",
               P(r"new\s+(?:File\w*|Socket|Buffered\w*|Scanner|Thread|Timer|Handler|\w*Stream|\w*Connection)\b", "new")),
    },
    "mem_compact": {
        ANY: R("RGB_565 inSampleSize inJustDecodeBounds bitset BitSet bytearray __slots__ SparseArray SparseIntArray "
               "ArrayMap memoryview string_view emplace_back shrink_to_fit Span ReadOnlySpan std.move array.array "
               "short byte int8_t int16_t uint8_t uint16_t"),
    },
    "raii": {
        CPP: R("unique_ptr shared_ptr make_unique make_shared lock_guard unique_lock scoped_lock"),
        RB: R("", "", P(r"\b(?:File|IO)\.open\s*\([^)\n]{0,200}\)\s*(?:do|\{)", "open")),
        (JAVA, CS): R("", "", P(r"\btry\s*\(", "try")),
        CS: R("", "", P(r"\busing\s+var\b", "using")),
    },
    # ---- correctness and style -----------------------------------------------------------------
    "bug_pattern": {
        ANY: R("", "", P(r"<=\s*[\w.]{1,60}\.(?:length|size\s*\(\s*\)|Length|Count|len\s*\(\s*\))", "<="),
               P(r"<=\s*len\s*\(\s*\w+\s*\)", "<="), P(r"range\s*\(\s*len\s*\([^)\n]{1,60}\)\s*\+\s*1\s*\)", "range")),
        JAVA: R("", "", P(r"[!=]=\s*\"", "== !=")),  # strings compared by reference
        PY: R("", "", P(r" is\s+(?:-?\d|[\"'])", "is")),
    },
    "smell": {
        PY: R("NotImplemented has_key xrange iteritems itervalues iterkeys basestring unicode cmp execfile global", "",
              P(r"[!=]=\s*None\b", "None"), P(r"\bexcept\s*:", "except"),
              P(r"def\s+\w+\s*\([^)\n]{0,200}=\s*(?:\[\]|\{\}|set\(\)|dict\(\)|list\(\))", "def"),
              P(r"\btype\s*\(\s*\w+\s*\)\s*[!=]=", "type"), P(r"\bimport\s+\*", "import"),
              P(r"==\s*(?:True|False)\b", "True False"), P(r"\bassert\s*\(.{0,200},", "assert"),
              P(r"\bprint\s+[^(\s=]", "print")),
        (JAVA, CS, JS, CPP, C): R("goto", "", P(r"[!=]=\s*(?:true|false)\b", "true false")),
        JAVA: R("printStackTrace System.exit", "",
                P(r"\bcatch\s*\(\s*(?:Exception|Throwable|RuntimeException)\b", "catch")),
        JS: R("var arguments", "", P(r"(?<![=!<>])==(?!=)", "=="), P(r"!=(?!=)", "!="),
              P(r"\bnew\s+(?:Boolean|String|Number|Object|Array)\s*\(", "new"), P(r"\bwith\s*\(", "with")),
        RB: R("", "", P(r"\brescue\s+Exception\b", "rescue"), P(r"\$\w+\s*=", "$")),
        CS: R("", "", P(r"\bcatch\s*(?:\(\s*Exception\b[^)\n]{0,80}\))?\s*\{", "catch")),
    },
}

POSITIONAL = frozenset({"eff_search", "eff_sort", "eff_concat", "eff_alloc", "eff_copy", "eff_io"})
LOOP_ONLY = frozenset({"eff_sort", "eff_concat"})  # only their count inside loops is a feature

DANGER_CATEGORIES = ("sec_memory", "sec_format", "sec_exec", "sec_exec_built", "sec_deser", "sec_html", "sec_sql", "sec_hash",
                     "sec_random", "sec_tls", "sec_secret", "sec_compare", "sec_misc")
SAFE_CATEGORIES = ("safe_escape", "safe_validate", "safe_param_sql", "safe_memory", "safe_crypto")

#: Words in a request (looked for in its lower-cased text) and the categories they make relevant.
PROMPT_TOPICS: dict[str, tuple[str, ...]] = {
    "sql database query cwe-89 injection": ("sec_sql", "safe_param_sql", "safe_escape"),
    "command shell cwe-78 cwe-77 exec process": ("sec_exec", "sec_exec_built", "safe_escape", "safe_validate"),
    "deserial pickle yaml marshal cwe-502": ("sec_deser", "safe_crypto"),
    "html xss web+page cross-site cwe-79 template render response display": ("sec_html", "safe_escape"),
    "buffer overflow bound memory copy cwe-119 cwe-120 cwe-125 cwe-787 cwe-190 cwe-476 parse length size":
        ("sec_memory", "sec_format", "safe_memory", "coerce", "null_check"),
    "hash password crypt token random secret cwe-327 cwe-328 cwe-330 cwe-798 cwe-208":
        ("sec_hash", "sec_random", "sec_secret", "sec_compare", "safe_crypto"),
    "tls ssl certificate https cwe-295": ("sec_tls",),
    "path file directory upload cwe-22 cwe-73": ("safe_validate",),
    "format+string cwe-134 log": ("sec_format",),
    "null pointer cwe-476": ("null_check",),
}  # `+` is a space inside a phrase

CATEGORIES: tuple[str, ...] = tuple(RULES)

# SQL built by concatenation: a string literal that holds SQL and is joined to something, or interpolates.
SQL_IN_STRING = re.compile(_SQL.encode())
SQL_JOINED_AFTER = re.compile(rb"\s*(?:\+|%\s*[\w(]|\.format\b|\|\||\.\.|<<)")
SQL_JOINED_BEFORE = re.compile(rb"(?:\+|\.\.|<<|\|\||(?:Sprintf|[Ff]ormat|printf)\s*\([^\"'`]{0,80})\s*$")
SQL_INTERPOLATED = re.compile(rb"#\{|\$\{|\{[A-Za-z_][\w.]{0,40}\}|\{\d?\}")
QUOTED = re.compile(rb"\"[^\"\n]{0,2000}\"|'[^'\n]{0,2000}'|`[^`]{0,2000}`")  # string literals when there is no tree


def sql_built_by_concatenation(code: bytes, spans: list[tuple[int, int]]) -> int:
    """String literals holding SQL that are concatenated, formatted or interpolated."""
    found = 0
    for start, end in spans:
        text = code[start:end]
        if not SQL_IN_STRING.search(text):
            continue
        if (SQL_JOINED_AFTER.match(code, end) or SQL_JOINED_BEFORE.search(code[max(0, start - 100):start])
                or SQL_INTERPOLATED.search(text)):
            found += 1
    return found
_SYMBOLIC_GATE = re.compile(r"[^\w]")


@dataclass(frozen=True)
class Gated:
    """A compiled pattern that runs only when one of its gate words, symbols or stems occurs."""

    category: int
    regex: re.Pattern[bytes]
    words: frozenset[bytes]  # identifier tokens
    symbols: tuple[bytes, ...]  # substrings of the code
    stems: tuple[bytes, ...]  # substrings of the lower-cased code (written `~stem` in a gate)
    needs: frozenset[bytes] = frozenset()  # and one of these tokens too (the receivers of dotted names)


@dataclass(frozen=True)
class Compiled:
    """The rules of one language, ready to count: look-up tables from tokens to what they trigger."""

    names: dict[bytes, tuple[int, ...]]  # token -> categories it counts for
    stems: tuple[tuple[bytes, tuple[int, ...]], ...]  # lower-case fragment -> categories, counted inside words
    patterns: tuple[Gated, ...]
    gate_words: dict[bytes, tuple[int, ...]]  # token -> patterns it opens
    gate_symbols: tuple[tuple[bytes, tuple[int, ...]], ...]
    gate_stems: tuple[tuple[bytes, tuple[int, ...]], ...]
    stem_seen: set[bytes] = field(default_factory=set)  # words already checked for stems (a cache)
    stem_hits: dict[bytes, tuple[int, ...]] = field(default_factory=dict)  # word -> categories of its stems


def _applies(key: object, language: Language | None) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return language is None or ANY in keys or language in keys


def rules_for(category: str, language: Language | None) -> list[Rule]:
    return [rule for key, rule in RULES[category].items() if _applies(key, language)]


def _gate(index: int, regex: str, gate: str, needs: str = "") -> Gated:
    """Compile a pattern with its gate. A leading `\\b` is dropped: the gate already proves the word is
    there, and a pattern that starts with a literal lets the regex engine skip ahead in C."""
    items = gate.split()
    stems = [w[1:].replace("+", " ") for w in items if w.startswith("~")]
    words = [w for w in items if not w.startswith("~") and not _SYMBOLIC_GATE.search(w)]
    symbols = [w for w in items if not w.startswith("~") and _SYMBOLIC_GATE.search(w)]
    if regex.startswith("\\b") and (regex[2:3].isalpha() or regex[2:5] == "(?:"):
        regex = regex[2:]
    return Gated(index, re.compile(regex.encode(), re.MULTILINE), frozenset(w.encode() for w in words),
                 tuple(s.encode() for s in symbols), tuple(s.encode() for s in stems),
                 frozenset(w.encode() for w in needs.split()))


@cache
def compiled_rules(language: Language | None) -> Compiled:
    """Every category's rules for `language` (None: the union of all languages, for unknown code)."""
    names: dict[bytes, list[int]] = {}
    stems: dict[bytes, list[int]] = {}
    patterns: list[Gated] = []
    for index, category in enumerate(CATEGORIES):
        plain: list[str] = []
        qualified: list[str] = []
        for rule in rules_for(category, language):
            for name in rule.names.split():
                (qualified if "." in name else plain).append(name)
            for stem in rule.stems.split():
                stems.setdefault(stem.encode(), []).append(index)
            patterns.extend(_gate(index, p.regex, p.gate) for p in rule.patterns)
        for name in dict.fromkeys(plain):
            names.setdefault(name.encode(), []).append(index)
        if qualified:
            by_receiver: dict[str, list[str]] = {}
            for q in qualified:
                receiver, member = q.rsplit(".", 1)
                by_receiver.setdefault(receiver, []).append(member)
            alternation = "|".join(
                r"\s*(?:\.|::|->)\s*".join(map(re.escape, receiver.split("."))) + r"\s*(?:\.|::|->)\s*" + words(members)
                for receiver, members in by_receiver.items())
            members = " ".join(m for ms in by_receiver.values() for m in ms)
            receivers = " ".join(r.split(".")[0] for r in by_receiver)
            patterns.append(_gate(index, rf"(?:{alternation})(?![\w$])", members, needs=receivers))
    by_word: dict[bytes, list[int]] = {}
    symbols: dict[bytes, list[int]] = {}
    stem_gates: dict[bytes, list[int]] = {}
    for position, gated in enumerate(patterns):
        for word in gated.words:
            by_word.setdefault(word, []).append(position)
        for symbol in gated.symbols:
            symbols.setdefault(symbol, []).append(position)
        for stem in gated.stems:
            stem_gates.setdefault(stem, []).append(position)
    return Compiled(
        names={k: tuple(v) for k, v in names.items()},
        stems=tuple((k, tuple(v)) for k, v in stems.items()),
        patterns=tuple(patterns),
        gate_words={k: tuple(v) for k, v in by_word.items()},
        gate_symbols=tuple((k, tuple(v)) for k, v in symbols.items()),
        gate_stems=tuple((k, tuple(v)) for k, v in stem_gates.items()),
    )


_TOPIC_OF: dict[str, set[str]] = {}
for _phrases, _categories in PROMPT_TOPICS.items():
    for _phrase in _phrases.split():
        _TOPIC_OF.setdefault(_phrase.replace("+", " "), set()).update(_categories)
_TOPIC_SCAN = re.compile(words(list(_TOPIC_OF)))  # one trie scan finds every topic word


def prompt_categories(prompt_text: str) -> frozenset[str]:
    """Categories a request's topic makes relevant: one scan of its lower-cased text (the caller caches)."""
    found = set(_TOPIC_SCAN.findall(prompt_text.lower()))
    return frozenset(c for phrase in found for c in _TOPIC_OF[phrase])
