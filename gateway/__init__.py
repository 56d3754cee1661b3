"""Local API Gateway (REST proxy) emulator serving frontend/ and functions/detect on one origin."""
