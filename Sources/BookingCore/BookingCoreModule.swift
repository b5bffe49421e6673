public enum BookingCoreModule {}
