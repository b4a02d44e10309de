"""Venue adapters: the only package that imports ccxt."""
