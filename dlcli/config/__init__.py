"""The config language: the YAML file as pydantic models (``schema``), loading with located errors
(``load``), cross-field checks (``checks``) and resolution against the data (``resolve``).

Nothing here imports TensorFlow. Import the modules themselves (``dlcli.config.load``...): this
package file stays empty so that the data sources can use ``dlcli.config.base``.
"""
