"""Where a host command runs: as the runbooks type it (`ssh user@vps-ip`, then the app's
directory), not where SSM Run Command would run it (root, in the agent's own directory,
with the agent's environment). Each command selfheal sends to a host is wrapped in the
login shell of the user the runbook logs in as (`runuser -l`: that user's HOME, PATH and
profile, so `pm2` is that user's pm2 and `~/.pm2` its daemon) and starts in the app's
directory (relative to that home), where its `.env` is. Nothing of the command's own text
changes: it is quoted whole."""

from __future__ import annotations

import re
import shlex

#: A login name (useradd's rule); what the runbook's `ssh <user>@` names.
USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
#: A directory under the user's home: plain components, none starting with a dot (no
#: `..`, no hidden directory), or empty (the home itself).
DIRECTORY_PATTERN = r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}){0,7})?$"
#: What every wrapped command may use, the same on every host. pm2 and node installed with
#: nvm: a non-interactive login reads ~/.profile, whose .bashrc stops before nvm's lines.
#: `dotenv KEY [FILE]`: KEY's value in the app's `.env` as its loaders read it (`export`,
#: spaces around `=`, quotes, CRLF line ends, a trailing `# comment`), empty when absent.
PRELUDE = [
    '[ -s "$HOME/.nvm/nvm.sh" ] && . "$HOME/.nvm/nvm.sh" >/dev/null 2>&1',
    'dotenv() { awk -v k="$1" -v q="\'" \'{ sub(/\\r$/, "") } '
    '$0 ~ ("^[[:space:]]*(export[[:space:]]+)?" k "[[:space:]]*=") { v = $0; '
    'sub(/^[^=]*=[[:space:]]*/, "", v); f = substr(v, 1, 1); '
    'if (length(v) > 1 && (f == "\\"" || f == q) && substr(v, length(v), 1) == f) '
    'v = substr(v, 2, length(v) - 2); else sub(/[[:space:]]+#.*$/, "", v); '
    'sub(/[[:space:]]+$/, "", v); last = v } END { printf "%s", last }\' '
    '"${2:-.env}" 2>/dev/null; }',
]
#: An SSM document parameter, substituted (and validated by SSM) before the script runs.
_PLACEHOLDER = r"^\{\{ [A-Za-z]+ \}\}$"


def as_user(user: str, directory: str, lines: list[str]) -> list[str]:
    """`lines` run by `user`'s login shell from `~/directory`, as one `runuser -l … -c '…'`
    split back into lines: SSM joins a document's lines with newlines, so the script is
    the same. `user`/`directory` are validated values or SSM parameters (`{{ user }}`)."""
    for value, pattern in ((user, USER_PATTERN), (directory, DIRECTORY_PATTERN)):
        if not (re.fullmatch(pattern[1:-1], value) or re.fullmatch(_PLACEHOLDER[1:-1], value)):
            raise ValueError(f"host shell: {value!r} does not match {pattern}")
    missing = f'{{ echo "no directory ~/{directory}" >&2; exit 2; }}'
    cd = [f"cd {directory} 2>/dev/null || {missing}"]
    body = "\n".join((cd if directory else []) + PRELUDE + lines)
    return f"runuser -l {user} -c {shlex.quote(body)}".split("\n")
