"""Built-in architecture plugins, installed as `hardener.plugins` and registered through the same
entry-point group (`hardener.architectures`) a third-party plugin uses."""
