"""SIP trunks, dispatch rule and bridge configuration, and the provisioning command."""
