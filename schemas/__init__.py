"""Data contracts: FlatBuffers output schemas, input event schemas, Arrow schemas."""
