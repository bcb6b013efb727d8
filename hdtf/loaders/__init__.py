"""``datasets`` builders: the generic prepared-clips builder (``prepared``) and one small subclass per source besides
HDTF's (``hdtf_loader``), one module each since ``datasets`` takes the first builder class a module defines.
Registered by ``hdtf._registry`` so ``load_dataset(NAME)`` works offline."""
