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
    body = "\n".join((cd if directory else []) + lines)
    return f"runuser -l {user} -c {shlex.quote(body)}".split("\n")
