"""Shared library for selfheal remediators, deployed as a Lambda layer."""
