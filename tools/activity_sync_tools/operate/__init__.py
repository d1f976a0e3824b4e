"""The operator's commands: ``import``, ``errors``, ``redrive``, ``explain``, ``preview`` and
``status``, one module each, on the local stack (``--local``) or a deployed one (``--stack NAME``).

They read and change the stack through the product's own adapters and rules (``activity_sync``),
so what they report is what the functions decide. ``target`` finds the stack, ``dead_letters``
reads the dead-letter queues without consuming them, ``output`` prints tables (rich) or JSON.
"""
