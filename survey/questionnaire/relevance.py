"""Relevance rules ("show this question when ..."): a tiny grammar, parsed once, never executed as code.

rule   := clause (("and" | "or") clause)*     -- "and" binds tighter than "or"
clause := NAME "==" CODE | NAME "!=" CODE | NAME ["not"] "in" "[" CODE ("," CODE)* "]"
        | NAME "is" "answered" | "not" clause | "(" rule ")"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(?:(==|!=|\[|\]|\(|\)|,)|([A-Za-z_][A-Za-z0-9_]*))")


class RuleSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Compare:
    question: str
    op: str  # "==", "!=", "in", "not in", "answered"
    codes: tuple[str, ...]

    def evaluate(self, answers) -> bool:
        value = answers.get(self.question)
        if self.op == "answered":
            return value not in (None, "", [])
        if value in (None, "", []):
            return False
        selected = set(value) if isinstance(value, list | tuple) else {value}
        hit = bool(selected & set(self.codes))
        return hit if self.op in ("==", "in") else not hit

    def questions(self):
        yield self.question


@dataclass(frozen=True)
class Not:
    clause: object

    def evaluate(self, answers) -> bool:
        return not self.clause.evaluate(answers)

    def questions(self):
        yield from self.clause.questions()


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    parts: tuple

    def evaluate(self, answers) -> bool:
        results = (part.evaluate(answers) for part in self.parts)
        return all(results) if self.op == "and" else any(results)

    def questions(self):
        for part in self.parts:
            yield from part.questions()


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise RuleSyntaxError(f"unexpected character {text[pos:].strip()[:1]!r} at {pos + 1}")
        tokens.append(match.group(1) or match.group(2))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, description: str) -> str:
        """The next token, whatever it is; `description` says what was expected if none is left."""
        word = self.peek()
        if word is None:
            raise RuleSyntaxError(f"rule ends early; expected {description}")
        self.pos += 1
        return word

    def expect(self, exact: str) -> str:
        word = self.take(f"'{exact}'")
        if word != exact:
            raise RuleSyntaxError(f"expected '{exact}', found '{word}'")
        return word

    def parse(self):
        rule = self.rule()
        if self.peek() is not None:
            raise RuleSyntaxError(f"unexpected '{self.peek()}' after a complete rule")
        return rule

    def rule(self):
        parts = [self.conjunction()]
        while self.peek() == "or":
            self.take("")
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def conjunction(self):
        parts = [self.clause()]
        while self.peek() == "and":
            self.take("")
            parts.append(self.clause())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def clause(self):
        word = self.peek()
        if word == "not":
            self.take("")
            return Not(self.clause())
        if word == "(":
            self.take("")
            inner = self.rule()
            self.expect(")")
            return inner
        name = self.name("a question name")
        op = self.take("an operator (==, !=, in, not in, is answered)")
        if op in ("==", "!="):
            return Compare(name, op, (self.name("a code"),))
        if op == "is":
            self.expect("answered")
            return Compare(name, "answered", ())
        if op == "not":
            self.expect("in")
            op = "not in"
        elif op != "in":
            raise RuleSyntaxError(f"unknown operator '{op}'; use ==, !=, in, not in or is answered")
        self.expect("[")
        codes = [self.name("a code")]
        while self.peek() == ",":
            self.take("")
            codes.append(self.name("a code"))
        self.expect("]")
        return Compare(name, op, tuple(codes))

    def name(self, what):
        word = self.take(what)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word) or word in ("and", "or", "not"):
            raise RuleSyntaxError(f"expected {what}, found '{word}'")
        return word


def parse_rule(text: str):
    """Parse a relevance rule into a tree with evaluate(answers) and questions(); raise on bad syntax."""
    if not isinstance(text, str) or not text.strip():
        raise RuleSyntaxError("a rule must be a non-empty string")
    return _Parser(text).parse()
