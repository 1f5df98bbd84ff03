// The heads pages' behaviour, appended to app.js when served (one script for the browser).
'use strict';
