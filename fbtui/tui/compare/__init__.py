"""The compare view's parts: `plain` (text output for --plain) and `widgets` (Textual).

Importing this package imports nothing heavy; `widgets` pulls in Textual.
"""
