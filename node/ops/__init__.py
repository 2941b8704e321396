"""Operations: metrics, status page, doctor."""
