"""What Hearth holds and what leaves the machine (nothing): the network guard, inventory, wipe."""
