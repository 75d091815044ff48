"""prototype"""
import js
from pyscript import window, document
from polyscript import xworker

def on_message(event):
    files = event.data.files
    for f in files:
        print("got", f.name, f.size, js.Object.prototype.toString.call(f))
    document.getElementById("intake-note").hidden = False
    document.getElementById("intake-note").textContent = "got " + ",".join(f.name for f in files)

xworker.onmessage = on_message
document.documentElement.dataset.python = "ready"
window.rtIntake.ready()
print("ready")
