"""survey: technical-assistance needs-assessment surveys for UNTOC, its Protocols and UNCAC."""

__version__ = "0.1.0"
