"""The pipeline catalog: diffusers classes and their parameters, generated and checked in.
Pure data access; never imports diffusers."""
