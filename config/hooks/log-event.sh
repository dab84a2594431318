#!/bin/sh
# Example hook: appends one line per event to /var/log/nlmon/events.log.
# The event arrives in NLMON_* variables and as one JSON line on stdin.
mkdir -p /var/log/nlmon
printf '%s %s %s in %s (%s)\n' "$NLMON_TIMESTAMP" "$NLMON_EVENT" "$NLMON_INTERFACE" "$NLMON_NAMESPACE" "$NLMON_HOOK" >> /var/log/nlmon/events.log
