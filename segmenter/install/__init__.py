"""`segmenter service install|status|upgrade|uninstall`: this segmenter in place of the
PlanktoScope's own `planktoscope-org.segmenter` unit, and back.

layout.py   where everything goes (a root prefix for tests and images), the install record
units.py    the old unit read (data root, broker, user), ours and its settings file written
host.py     the steps: each printed, run unless --dry-run (systemctl injectable)
actions.py  install, upgrade, uninstall, status
cli.py      the command line; imports nothing beyond the standard library, so that
            `sudo python3 -m segmenter service install` runs from a clone before any venv

The queue and the per-frame journals live under the data root: nothing here touches them.
"""
