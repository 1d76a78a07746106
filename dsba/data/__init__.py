"""Tables coming in: reading files and URLs, size limits, typing, profiles and feature schemas."""
