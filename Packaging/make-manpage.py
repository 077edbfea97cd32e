#!/usr/bin/env python3
"""Writes tpudeploy(1) in roff from the argument parser's own description of the command line
(`tpudeploy --experimental-dump-help`), so the man page lists exactly the commands and options the binary has.
    Packaging/make-manpage.py DUMP.json VERSION > tpudeploy.1
"""
import json
import sys


def roff(text):
    """Escapes text for roff: backslashes, and a leading dot or quote that would read as a request."""
    text = (text or "").replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def argument_synopsis(arg):
    names = arg.get("names") or []
    preferred = arg.get("preferredName") or (names[0] if names else None)
    if arg["kind"] == "positional":
        return "<" + arg.get("valueName", "value") + ">"
    if preferred is None:
        return ""
    dash = "--" if preferred["kind"] == "long" else "-"
    text = dash + preferred["name"]
    if arg["kind"] == "option":
        text += " <" + arg.get("valueName", "value") + ">"
    return text


def command_section(command, path, out):
    full = " ".join(path)
    arguments = [a for a in command.get("arguments") or [] if a.get("shouldDisplay", True)]
    out.append(".SS " + roff(full) if len(path) > 1 else ".SH OPTIONS")
    if len(path) > 1 and command.get("abstract"):
        out.append(roff(command["abstract"]))
        out.append(".PP")
    if len(path) > 1 and command.get("discussion"):
        out.append(roff(command["discussion"]))
        out.append(".PP")
    for arg in arguments:
        names = arg.get("names") or []
        labels = []
        for name in names:
            dash = {"long": "--", "short": "-", "longWithSingleDash": "-"}[name["kind"]]
            label = "\\fB" + roff(dash + name["name"]) + "\\fR"
            if arg["kind"] == "option":
                label += " \\fI" + roff(arg.get("valueName", "value")) + "\\fR"
            labels.append(label)
        if arg["kind"] == "positional":
            labels = ["\\fI" + roff(arg.get("valueName", "value")) + "\\fR"]
        out.append(".TP")
        out.append(", ".join(labels))
        help_text = arg.get("abstract", "")
        if arg.get("defaultValue"):
            help_text += " (default: " + arg["defaultValue"] + ")"
        out.append(roff(help_text))
    for sub in command.get("subcommands") or []:
        if sub.get("shouldDisplay", True):
            command_section(sub, path + [sub["commandName"]], out)


def main():
    dump = json.load(open(sys.argv[1]))
    version = sys.argv[2]
    root = dump["command"]
    out = ['.TH TPUDEPLOY 1 "" "tpudeploy %s" "User Commands"' % version,
           ".SH NAME",
           "tpudeploy \\- " + roff(root.get("abstract", "")),
           ".SH SYNOPSIS",
           ".B tpudeploy",
           "\\fIcommand\\fR [\\fIoptions\\fR]",
           ".SH DESCRIPTION",
           roff(root.get("discussion", ""))]
    out.append(".SH COMMANDS")
    out.append("Run \\fBtpudeploy\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR for the same text on a terminal.")
    command_section(root, ["tpudeploy"], out)
    out += [".SH FILES",
            ".TP", "/usr/share/tpudeploy", "Profiles, the boards' payloads and the board scripts of the .deb.",
            ".TP", "\\&./tpudeploy.yaml", "The board and deployment of a project (\\fBtpudeploy init\\fR writes it).",
            ".SH SEE ALSO",
            "/usr/share/doc/tpudeploy/README.md"]
    print("\n".join(out))


main()
