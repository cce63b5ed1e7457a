"""Live chat over Socket.IO."""
