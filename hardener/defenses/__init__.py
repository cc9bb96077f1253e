"""Defenses, one file each with one entry function: decoy (the patent), and EWC shared by them."""
