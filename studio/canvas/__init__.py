"""Drawing the flow: the scene observes the document; interactions push undo commands."""
