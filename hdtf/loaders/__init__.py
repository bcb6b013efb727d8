"""``datasets`` builders besides HDTF's (``hdtf_loader``): one module each, since ``datasets`` takes the first builder
class a module defines. Registered by ``hdtf._registry`` so ``load_dataset(NAME)`` works offline."""
