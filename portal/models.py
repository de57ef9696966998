# The portal owns no data: it shows and acts on the other apps' models.
