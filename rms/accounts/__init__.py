"""Sign-in security: two-factor login (django-otp, TOTP with backup codes), lockout after
repeated failures (django-axes), idle and absolute session timeouts, and "log out everywhere".

The flow: password (``views.SignInView``) → the two-factor code (``views.two_factor_verify``),
or, for a user with no authenticator yet, enrolment (``views.two_factor_enrol``). Until the
code is given, ``middleware.TwoFactorMiddleware`` sends every page but these back to that step.
"""
