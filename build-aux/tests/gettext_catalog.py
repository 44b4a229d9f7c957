"""Reads the message keys (context, msgid, plural) of a gettext .po/.pot file."""
import re

_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def message_keys(path):
    """The set of (msgctxt, msgid, msgid_plural) of every message except the header,
    obsolete (#~) entries excluded."""
    keys = set()
    entry = {}
    field = None

    def flush():
        if entry.get("msgid"):
            keys.add((entry.get("msgctxt"), entry["msgid"], entry.get("msgid_plural")))
        entry.clear()

    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                if not line:
                    flush()
                    field = None
                continue
            m = re.match(r"(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(\".*\")$", line)
            if m:
                field = m.group(1)
                if field == "msgctxt" or (field == "msgid" and "msgid" in entry):
                    flush()
                entry[field] = "".join(_STRING.findall(m.group(2)))
            elif line.startswith('"') and field:
                entry[field] = entry.get(field, "") + "".join(_STRING.findall(line))
    flush()
    return keys
