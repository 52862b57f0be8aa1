"""What Hearth holds and what leaves the machine (nothing).

`guard` refuses and logs every connection and name lookup; `hygiene` keeps files private and
removes leftovers at start; `inventory` lists everything by category; `network` is the proof;
`export`, `controls` (delete, wipe) and `retention` act on it; `encryption` reads the disk's
state. All Qt-free: the window's page and the CLI drive the same functions.
"""
