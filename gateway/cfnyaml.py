"""A small YAML reader for CloudFormation/SAM templates, with the stdlib only.

The local gateway must run with the Lambda runtime requirements alone (no PyYAML), yet read its
settings (throttle, binary media types, routes, environment) from ``template.yaml`` instead of
duplicating them. This reads the block/flow YAML subset that templates use: mappings, sequences,
plain/quoted scalars, ``|``/``>`` block scalars, flow ``[...]``/``{...}`` collections, comments and the
short-form intrinsic tags, which become their JSON form (``!Ref X`` -> ``{"Ref": "X"}``,
``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A", "B"]}``, ``!Sub s`` -> ``{"Fn::Sub": s}``), as cfn-flip does.
Anchors, aliases and multiple documents are not supported (templates do not use them).
"""
from __future__ import annotations

import json
import re

__all__ = ["loads", "load", "YamlError"]


class YamlError(ValueError):
    pass


_KEY = re.compile(r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"\[\]{}#&*!|>%@`-][^#]*?|-[^\s#][^#]*?)\s*:(?:\s+|$)(.*)$""")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def _strip_comment(s: str) -> str:
    """Drop a trailing ``# comment`` that is outside quotes."""
    quote = None
    i = 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "'\"" and (i == 0 or s[i - 1] in " \t[{,:-"):
            quote = c
        elif c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
        i += 1
    return s.rstrip()


def _unquote(s: str) -> str:
    if s[0] == '"':
        return json.loads(s.replace("\\/", "/")) if "\\" in s else s[1:-1]
    return s[1:-1].replace("''", "'")


def _scalar(s: str):
    s = s.strip()
    if not s:
        return None
    if s[0] in "'\"":
        return _unquote(s)
    if s in ("~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    return s


def _apply_tag(tag: str | None, value):
    if tag is None:
        return value
    name = tag[1:]
    if name == "Ref":
        return {"Ref": value}
    if name == "Condition":
        return {"Condition": value}
    if name == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {"Fn::" + name: value}


class _Flow:
    """Parser for one flow collection (``[a, !Ref b, {k: v}]``)."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def _ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def parse(self):
        v = self.node()
        self._ws()
        if self.i != len(self.s):
            raise YamlError(f"trailing text in flow collection: {self.s[self.i:]!r}")
        return v

    def node(self):
        self._ws()
        tag = None
        if self.s.startswith("!", self.i):
            m = re.compile(r"!\S+?(?=[\s,\]\}\[\{]|$)").match(self.s, self.i)
            tag = m.group(0)
            self.i = m.end()
            self._ws()
        c = self.s[self.i] if self.i < len(self.s) else ""
        if c == "[":
            self.i += 1
            out = []
            while True:
                self._ws()
                if self.s.startswith("]", self.i):
                    self.i += 1
                    break
                out.append(self.node())
                self._ws()
                if self.s.startswith(",", self.i):
                    self.i += 1
            return _apply_tag(tag, out)
        if c == "{":
            self.i += 1
            out = {}
            while True:
                self._ws()
                if self.s.startswith("}", self.i):
                    self.i += 1
                    break
                key = self.atom(stop=":,}")
                self._ws()
                val = None
                if self.s.startswith(":", self.i):
                    self.i += 1
                    val = self.node()
                out[key] = val
                self._ws()
                if self.s.startswith(",", self.i):
                    self.i += 1
            return _apply_tag(tag, out)
        return _apply_tag(tag, self.atom(stop=",]}"))

    def atom(self, stop: str):
        self._ws()
        if self.i < len(self.s) and self.s[self.i] in "'\"":
            q = self.s[self.i]
            j = self.i + 1
            while j < len(self.s):
                if q == '"' and self.s[j] == "\\":
                    j += 2
                    continue
                if self.s[j] == q:
                    if q == "'" and self.s.startswith("''", j):
                        j += 2
                        continue
                    break
                j += 1
            tok = self.s[self.i:j + 1]
            self.i = j + 1
            return _unquote(tok)
        j = self.i
        while j < len(self.s) and self.s[j] not in stop:
            if self.s[j] == ":" and ":" in stop and (j + 1 == len(self.s) or self.s[j + 1] in " \t"):
                break
            j += 1
        tok = self.s[self.i:j]
        self.i = j
        return _scalar(tok)


class _Block:
    def __init__(self, text: str):
        self.raw = text.replace("\t", "    ").splitlines()
        self.i = 0
        # Lines rewritten when "- key: v" opens a mapping inside a sequence item.
        self.override: dict[int, tuple[int, str]] = {}

    def _line(self, i):
        if i in self.override:
            return self.override[i]
        line = self.raw[i]
        content = _strip_comment(line.lstrip(" "))
        return len(line) - len(line.lstrip(" ")), content

    def peek(self):
        while self.i < len(self.raw):
            ind, content = self._line(self.i)
            if content and content not in ("---", "..."):
                return ind, content
            self.i += 1
        return None

    def parse_node(self, ind: int):
        _, content = self.peek()
        if content == "-" or content.startswith("- "):
            return self.parse_seq(ind)
        return self.parse_map(ind)

    def parse_map(self, ind: int) -> dict:
        out: dict = {}
        while True:
            pk = self.peek()
            if pk is None or pk[0] < ind:
                return out
            if pk[0] > ind:
                raise YamlError(f"line {self.i + 1}: unexpected indentation")
            content = pk[1]
            if content == "-" or content.startswith("- "):
                return out
            m = _KEY.match(content)
            if not m:
                raise YamlError(f"line {self.i + 1}: expected 'key: value', got {content!r}")
            key = m.group(1).strip()
            key = _unquote(key) if key[0] in "'\"" else key
            self.i += 1
            out[key] = self.parse_value(m.group(2).strip(), ind)

    def parse_seq(self, ind: int) -> list:
        out = []
        while True:
            pk = self.peek()
            if pk is None or pk[0] != ind or not (pk[1] == "-" or pk[1].startswith("- ")):
                if pk is not None and pk[0] > ind:
                    raise YamlError(f"line {self.i + 1}: unexpected indentation")
                return out
            rest = pk[1][1:].lstrip(" ")
            item_ind = ind + (len(pk[1]) - len(rest))
            if rest and (_KEY.match(rest) and not rest.startswith(("!", "[", "{", "'", '"'))
                         or rest.startswith(("- ",)) or rest == "-"):
                # "- key: value" (a mapping) or "- - x" (a nested sequence) starting on this line.
                self.override[self.i] = (item_ind, rest)
                out.append(self.parse_node(item_ind))
            elif rest and rest[0] in "'\"" and _KEY.match(rest) and _quoted_key(rest):
                self.override[self.i] = (item_ind, rest)
                out.append(self.parse_node(item_ind))
            else:
                self.i += 1
                out.append(self.parse_value(rest, ind))

    def parse_value(self, rest: str, ind: int):
        tag = None
        if rest.startswith("!"):
            tag, _, rest = rest.partition(" ")
            rest = rest.strip()
        if not rest:
            pk = self.peek()
            if pk and (pk[0] > ind or (pk[0] == ind and (pk[1] == "-" or pk[1].startswith("- ")))):
                val = self.parse_node(pk[0])
            else:
                val = None
        elif rest[0] in "|>":
            val = self.block_scalar(rest, ind)
        elif rest[0] in "[{":
            text = rest
            while not _balanced(text):
                if self.i >= len(self.raw):
                    raise YamlError("unterminated flow collection")
                text += " " + _strip_comment(self.raw[self.i].strip())
                self.i += 1
            val = _Flow(text).parse()
        elif rest[0] in "'\"" and not _closed(rest):
            text = rest
            while not _closed(text):
                if self.i >= len(self.raw):
                    raise YamlError("unterminated quoted scalar")
                text += " " + self.raw[self.i].strip()
                self.i += 1
            val = _scalar(text)
        else:
            text = rest
            # A plain scalar may continue on more-indented lines.
            while True:
                pk = self.peek()
                if pk is None or pk[0] <= ind or self.i in self.override:
                    break
                text += " " + pk[1]
                self.i += 1
            val = _scalar(text)
        return _apply_tag(tag, val)

    def block_scalar(self, header: str, ind: int) -> str:
        style, chomp = header[0], ""
        for ch in header[1:]:
            if ch in "+-":
                chomp = ch
        lines = []
        block_ind = None
        while self.i < len(self.raw):
            line = self.raw[self.i]
            if line.strip():
                li = len(line) - len(line.lstrip(" "))
                if li <= ind:
                    break
                if block_ind is None:
                    block_ind = li
                if li < block_ind:
                    break
                lines.append(line[block_ind:])
            else:
                lines.append("")
            self.i += 1
        while lines and lines[-1] == "":
            lines.pop()
            if chomp == "+":
                lines.append("")
                break
        if style == "|":
            text = "\n".join(lines)
        else:
            text, prev_blank = "", True
            for ln in lines:
                if ln == "":
                    text += "\n"
                    prev_blank = True
                elif ln.startswith(" "):
                    text += ("" if prev_blank else "\n") + ln + "\n"
                    prev_blank = True
                else:
                    text += ("" if prev_blank else " ") + ln
                    prev_blank = False
            text = text.rstrip("\n") if not text.endswith(" ") else text
        if chomp != "-" and lines:
            text += "\n"
        return text


def _quoted_key(s: str) -> bool:
    m = _KEY.match(s)
    return bool(m) and m.group(1)[0] in "'\""


def _closed(s: str) -> bool:
    q = s[0]
    j = 1
    while j < len(s):
        if q == '"' and s[j] == "\\":
            j += 2
            continue
        if s[j] == q:
            if q == "'" and s.startswith("''", j):
                j += 2
                continue
            return True
        j += 1
    return False


def _balanced(s: str) -> bool:
    depth, quote, i = 0, None, 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth <= 0


def loads(text: str):
    """Parse a CloudFormation template's YAML text into plain Python data."""
    b = _Block(text)
    pk = b.peek()
    if pk is None:
        return None
    out = b.parse_node(pk[0])
    if b.peek() is not None:
        raise YamlError(f"line {b.i + 1}: unexpected content")
    return out


def load(path) -> object:
    with open(path, encoding="utf-8") as fh:
        return loads(fh.read())
