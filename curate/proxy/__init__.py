"""Distilled proxy scores: an expensive teacher on a sample, a cheap model on every row."""

from curate.proxy.config import ProxyConfig, parse_proxy
from curate.proxy.distill import ProxyResult, distill

__all__ = ["ProxyConfig", "ProxyResult", "distill", "parse_proxy"]
